/** AuditEvents of the server's own scheduled work (retention purges): DCM 110100 Application Activity. */
import type { Resource } from '../fhir/types.js';
import type { Config } from '../config.js';
import type { AuditLog } from './log.js';
import type { Tenant } from '../storage/tenants.js';
import { auditEvent, dcm } from './event.js';

export function systemEvent(deps: { config: Config; audit: AuditLog }, tenant: Tenant, subtype: { system: string; code: string }, description: string): Resource {
  const base = `${deps.config.baseUrl ?? `http://localhost:${deps.config.port}`}/fhir/${tenant.slug}`;
  const event = auditEvent({ type: dcm('110100', 'Application Activity'), subtype: [subtype], action: 'D', pattern: 'Delete',
    actor: { clientId: 'hearth-scheduler', subject: 'hearth-scheduler' },
    request: { requestId: `job-${Date.now()}`, address: 'localhost', method: 'JOB', url: base },
    base, outcome: { status: 200 }, entities: [], recorded: deps.audit.now() });
  return { ...event, outcomeDesc: description } as Resource;
}
