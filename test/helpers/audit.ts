/** Test helpers for the audit trail. */
import { sealTenant } from '../../src/audit/schedule.js';
import { lastSeal } from '../../src/audit/chain.js';
import type { Db, Queryable } from '../../src/db/db.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { ident, sql } from '../../src/db/sql.js';
import type { Tenant } from '../../src/storage/tenants.js';

/**
 * Seals until every committed event is sealed. A seal stops below the oldest transaction still open anywhere in the
 * cluster, so while other test files run against the same PostgreSQL it may take a few rounds.
 */
export async function sealEverything(db: Db, tenant: Tenant, secret?: string): Promise<void> {
  for (let round = 0; round < 200; round++) {
    await sealTenant(db, tenant, secret);
    const seal = await lastSeal(db, tenant.schema);
    const [{ n }] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(tenant.schema)}.audit_event
      WHERE xid >= ${String(seal?.xid_to ?? '0')}::bigint`) as [{ n: number }];
    if (n === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('events stayed unsealed: a transaction is held open somewhere');
}

/** Every AuditEvent of a tenant schema, its body opened (encrypted or not), oldest first. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function storedAuditEvents(db: Queryable, schema: string): Promise<any[]> {
  const rows = await db.query<{ content: unknown }>(sql`SELECT ${sealedAuditColumns(schema)} FROM ${ident(schema)}.audit_event e ORDER BY seq`);
  return rows.map((r) => r.content);
}
