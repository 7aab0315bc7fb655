/** What the SMART authorization server is given by the composition root (src/app.ts): narrow, no FHIR dispatch. */
import type { Config } from '../config.js';
import type { BearerDeps } from '../auth/bearer.js';
import type { SecurityEvents } from '../auth/security-events.js';

export interface OAuthDeps extends BearerDeps {
  config: Pick<Config, 'clockSkewS' | 'assertionClockSkewS'>;
  /** Where token events go (the tenant's audit trail). */
  securityEvents: SecurityEvents;
}
