/**
 * What the SMART authorization server (src/oauth) reports about tokens, as an interface: the audit trail implements it
 * (src/audit/security.ts) and the composition root hands it over, so neither imports the other (issue 13 §3).
 * Identifiers only: never a password, token, code, secret or assertion.
 */
import { internalError } from '../errors.js';

/** Usernames: letters, digits and . _ @ -, at most 64. A failed login records the username only when it has this shape. */
export const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** Where a request came from: its X-Request-Id and the caller's IP address. */
export interface Origin { requestId: string; address: string }

/** Where and when an event occurred: the tenant's FHIR base (this server as observer), the request, the clock. */
export interface Occurrence {
  base: string; origin: Origin; recorded: Date;
  /** The person acting through the admin API (a global or tenant administrator); absent for the bootstrap token. */
  operator?: { system: string; value: string; display: string };
}

/** Why something was refused; status only chooses minor (4xx → 4) or serious (5xx → 8) failure. */
export interface Failure { status: number; message: string }

/** A signed-in user: their id, username and FHIR resource. */
export interface SignedIn { id: string; username: string; fhirUser: string }

export interface TokenFacts {
  /** The authenticated client, or before that the client_id the request claimed. */
  clientId?: string;
  grantType?: string;
  grantId?: string;
  /** The granted scope (never the requested one of a refusal). */
  scope?: string;
  /** The launch patient id bound to the grant. */
  patient?: string;
  jti?: string;
  user?: { id: string; fhirUser?: string };
}

export type TokenEventCode = 'token-issued' | 'token-refused' | 'token-revoked';

export interface SecurityEvents {
  /** The clock events are stamped with. */
  now(): Date;
  /** Records a token event in the tenant's audit trail; resolves once it is durable. */
  token(schema: string, code: TokenEventCode, at: Occurrence, facts: TokenFacts, outcome?: { failure?: Failure; note?: string }): Promise<void>;
}

/** A FhirError or OAuthError as the refusal it answered; anything else is a 500 whose message is not kept. */
export function failureOf(e: unknown): Failure {
  const known = e as { status?: unknown; error?: unknown; message?: unknown };
  if (e instanceof Error && typeof known.status === 'number' && typeof known.message === 'string') {
    return { status: known.status, message: typeof known.error === 'string' ? `${known.error}: ${known.message}` : known.message };
  }
  const bug = internalError();
  return { status: bug.status, message: bug.message };
}
