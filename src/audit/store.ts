/** AuditEvent rows: insert (one statement for any number of events), read by id, monthly partitions (issue #6 §6–§7). */
import type { Db, Queryable } from '../db/db.js';
import { ident, raw, sql } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';
import type { AuditRow } from './columns.js';
import { auditIdInstant } from './event.js';

/** Column list and types of jsonb_to_recordset, in one place so the INSERT and the record type agree. */
const COLUMNS: [keyof AuditRow, string][] = [
  ['id', 'uuid'], ['recorded', 'timestamptz'], ['type', 'text[]'], ['subtype', 'text[]'], ['action', 'text'],
  ['outcome', 'text'], ['agent', 'text[]'], ['agent_identifier', 'text[]'], ['altid', 'text[]'], ['policy', 'text[]'],
  ['address', 'text[]'], ['entity', 'text[]'], ['entity_type', 'text[]'], ['entity_role', 'text[]'], ['patient', 'text[]'],
  ['source', 'text'], ['site', 'text'], ['client_reported', 'boolean'], ['content', 'jsonb'],
];
const NAMES = raw(COLUMNS.map(([c]) => c).join(', '));
const RECORD = raw(COLUMNS.map(([c, t]) => `${c} ${t}`).join(', '));

/** Inserts events in one statement (the rows travel as one jsonb parameter). */
export async function insertAuditRows(q: Queryable, schema: string, rows: AuditRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(sql`INSERT INTO ${ident(schema)}.audit_event (${NAMES})
    SELECT ${NAMES} FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(${RECORD})`);
}

/** By id: the id's timestamp is the row's `recorded`, the partition key (store.ts has no index on id). */
export async function readAuditEvent(q: Queryable, schema: string, id: string): Promise<Resource | undefined> {
  const at = auditIdInstant(id);
  if (!at) return undefined;
  const rows = await q.query<{ content: Resource }>(
    sql`SELECT content FROM ${ident(schema)}.audit_event WHERE recorded = ${at} AND id = ${id}::uuid LIMIT 1`);
  return rows[0]?.content;
}

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
  }
}
