/**
 * A tenant's consent default (issue #16 §3, auth/consent.ts): what holds for a patient's record where no Consent
 * decides — `opt-out` (accessible unless a Consent denies; the default) or `opt-in` (refused unless a Consent
 * permits). The trigger of migration 018 has every node re-read it with the tenant's Consents.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import type { ConsentDefault } from '../auth/consent.js';

export async function getConsentDefault(db: Queryable, schema: string): Promise<ConsentDefault> {
  const rows = await db.query<{ d: ConsentDefault }>(sql`SELECT consent_default AS d FROM ${ident(schema)}.auth_setting LIMIT 1`);
  return rows[0]?.d ?? 'opt-out';
}

/** {"default": "opt-in" | "opt-out"}; 400 naming the field otherwise. */
export async function setConsentDefault(db: Queryable, schema: string, body: unknown): Promise<ConsentDefault> {
  const value = (body as { default?: unknown } | null)?.default;
  const extra = body && typeof body === 'object' ? Object.keys(body).filter((k) => k !== 'default') : [];
  if ((value !== 'opt-in' && value !== 'opt-out') || extra.length > 0) {
    throw badRequest('The body must be {"default": "opt-in"} or {"default": "opt-out"}', ['default']);
  }
  await db.query(sql`UPDATE ${ident(schema)}.auth_setting SET consent_default = ${value}`);
  return value;
}
