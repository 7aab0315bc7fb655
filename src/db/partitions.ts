/**
 * Schema upkeep beside the migrations: the monthly partitions of a tenant's audit_event table (migration 006), made
 * when a tenant is created or migrated and ahead of time by the audit schedule. DDL only; the rows are src/audit's.
 */
import type { Db, Queryable } from './db.js';
import { ident, raw, sql } from './sql.js';

/** First instant of the UTC month that contains at, moved by `months`. */
export function monthStart(at: Date, months = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + months, 1));
}

export const partitionName = (from: Date): string =>
  `audit_event_y${from.getUTCFullYear()}m${String(from.getUTCMonth() + 1).padStart(2, '0')}`;

/**
 * Creates the monthly partitions from the month of `from` through `ahead` months after `until` (idempotent). Rows
 * land in audit_event_default only for instants outside them; a month whose rows already sit there is left to it.
 */
export function ensurePartitions(db: Db, schema: string, from: Date, until: Date = from, ahead = 1): Promise<void> {
  return db.transaction(async (q) => {
    // one creator at a time per tenant (several nodes start together)
    await q.query(sql`SELECT pg_advisory_xact_lock(hashtext(${`hearth.audit.partitions.${schema}`}))`);
    await createPartitions(q, schema, from, until, ahead);
  });
}

async function createPartitions(q: Queryable, schema: string, from: Date, until: Date, ahead: number): Promise<void> {
  const last = monthStart(until, ahead).getTime();
  for (let m = monthStart(from); m.getTime() <= last; m = monthStart(m, 1)) {
    const name = partitionName(m);
    const exists = await q.query(sql`SELECT 1 FROM pg_tables WHERE schemaname = ${schema} AND tablename = ${name}`);
    if (exists.length > 0) continue;
    // DDL takes no bind parameters: the bounds are ISO instants computed here, the name is checked by ident().
    await q.query(sql`CREATE TABLE IF NOT EXISTS ${ident(schema)}.${ident(name)} PARTITION OF ${ident(schema)}.audit_event
      FOR VALUES FROM (${raw(`'${m.toISOString()}'`)}) TO (${raw(`'${monthStart(m, 1).toISOString()}'`)})`);
    await q.query(sql`CREATE TRIGGER audit_partition_no_truncate BEFORE TRUNCATE ON ${ident(schema)}.${ident(name)}
      FOR EACH STATEMENT EXECUTE FUNCTION ${ident(schema)}.audit_append_only()`);
    // as migration 008 does for the partitions that existed then: append-only by privilege too
    await q.query(sql`REVOKE UPDATE, DELETE, TRUNCATE ON ${ident(schema)}.${ident(name)} FROM PUBLIC, CURRENT_USER`);
  }
}
