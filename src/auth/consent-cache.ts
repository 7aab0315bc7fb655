/**
 * A tenant's privacy Consents and its consent default, read once and kept until they change (consent.ts says what
 * they decide). A write of a Consent — any path: REST, Bundle entries, $import — checks it (422 when it cannot be
 * evaluated) and NOTIFYs `hearth_auth` in its own transaction, so every node forgets the tenant's entry when it
 * commits, as for a revoked grant (grant-cache.ts); a change of the default does the same through its trigger.
 */
import type { Db, Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import type { Resource } from '../fhir/types.js';
import type { Change, WriteHook } from '../storage/write.js';
import type { Principal } from './access.js';
import { type ConsentDefault, type ConsentPolicy, ConsentView, isPrivacyConsent, parseConsent } from './consent.js';
import { AUTH_CHANNEL, TenantCache, authChanged } from './grant-cache.js';
import { actorRefs } from './relationships.js';

interface TenantConsents {
  policies: ConsentPolicy[];
  fallback: ConsentDefault;
  /** True when some actor is known only by looking the user up (an Organization, CareTeam, PractitionerRole …). */
  needsLookup: boolean;
}

/** Actor kinds a request knows without reading anything: its fhirUser and its app. */
const known = (ref: string) => ref.startsWith('client:') || ref.startsWith('Practitioner/') || ref.startsWith('Patient/');

/**
 * A stored Consent that can no longer be evaluated (written before this check, or under other resource types) grants
 * nothing and withholds its patient's record from everyone it binds, until it is corrected.
 */
function load(r: Resource, isType: (t: string) => boolean): ConsentPolicy[] {
  try {
    return [parseConsent(r, isType)];
  } catch {
    const patient = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(String((r.patient as { reference?: unknown } | undefined)?.reference ?? ''));
    return patient ? [{ id: String(r.id), patient: patient[1]!, rules: [{ effect: 'deny', depth: 0, levels: [{}] }] }] : [];
  }
}

export class ConsentCache extends TenantCache<TenantConsents> {
  constructor(private readonly database: Db, ttlMs: number, private readonly isType: (t: string) => boolean) {
    super(database, ttlMs);
  }

  private consents(schema: string): Promise<TenantConsents> {
    return this.cached(schema, async () => {
      const s = ident(schema);
      const rows = await this.database.query<{ fallback: ConsentDefault | null; content: Resource | null }>(sql`
        SELECT (SELECT consent_default FROM ${s}.auth_setting LIMIT 1) AS fallback, r.type, r.id, r.version, ${sealedColumns(schema, 'r')}
        FROM (SELECT 1) one LEFT JOIN ${s}.resource r ON r.type = 'Consent' AND NOT r.deleted`);
      const policies = rows.flatMap((r) => (isPrivacyConsent(r.content ?? undefined) ? load(r.content!, this.isType) : []));
      const needsLookup = policies.some((p) => p.rules.some((r) => r.levels.some((l) => l.actors?.some((a) => !known(a)))));
      return { policies, fallback: rows[0]?.fallback ?? 'opt-out', needsLookup };
    }, () => schema);
  }

  /**
   * What the tenant's Consents make of the principal's request; undefined when they cannot narrow it (no Consent
   * binds it and the default is opt-out) — the common case costs no statement.
   */
  async viewFor(db: Queryable, schema: string, principal: Principal, now: Date): Promise<ConsentView | undefined> {
    const tenant = await this.consents(schema);
    const own = principal.patient ?? /^Patient\/(.+)$/.exec(principal.fhirUser ?? '')?.[1];
    const exempt = new Set([...own ? [own] : [], ...principal.glass ?? []]);
    if (tenant.fallback === 'opt-out' && tenant.policies.every((p) => exempt.has(p.patient))) return undefined;
    const refs = new Set([`client:${principal.clientId}`, ...principal.fhirUser ? [principal.fhirUser] : []]);
    if (tenant.needsLookup) for (const ref of await actorRefs(db, schema, principal.fhirUser)) refs.add(ref);
    const asker = { refs, purposes: new Set(principal.purposes ?? []), exempt, now: now.getTime() };
    return new ConsentView(tenant.policies, tenant.fallback, asker,
      sql`SELECT id FROM ${ident(schema)}.resource WHERE type = 'Patient' AND NOT deleted`);
  }

  /** Checks a privacy Consent as it is written (422 naming the part) and has every node re-read the tenant's. */
  readonly hook: WriteHook = async (tx, schema, change: Change) => {
    if (change.type !== 'Consent') return;
    if (isPrivacyConsent(change.resource)) parseConsent(change.resource!, this.isType);
    await tx.query(sql`SELECT pg_notify(${AUTH_CHANNEL}, ${schema})`);
    authChanged(schema);
  };
}
