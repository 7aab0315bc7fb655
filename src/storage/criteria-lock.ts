/**
 * Exactly-once conditional writes (issue #12 §5; http://hl7.org/fhir/R4/http.html#ccreate, #cond-update): a
 * transaction-scoped advisory lock per (tenant, type, normalised criteria), taken in the write transaction before the
 * match query. Transactions run at READ COMMITTED, so the match — a later statement — sees what the previous holder
 * committed before it released the lock. On PGlite (one session) the lock excludes nothing, but the match and the
 * write share one database transaction, which PGlite runs alone.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { queryAlong } from '../db/deferred.js';
import { type Sql, sql } from '../db/sql.js';

/** An advisory lock key for what `parts` name within a namespace ('hearth.booking', schema, 'Slot/1'). */
export function lockKey(...parts: string[]): string {
  return crypto.createHash('sha256').update(parts.join('\0')).digest().readBigInt64BE(0).toString();
}

/** The lock key of criteria: parameter order does not change a conjunction, nor does percent-encoding. */
export function criteriaKey(schema: string, type: string, params: [string, string][]): string {
  const normal = [...params].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  const digest = crypto.createHash('sha256').update(`hearth.conditional\0${schema}\0${type}\0`)
    .update(new URLSearchParams(normal).toString()).digest();
  return digest.readBigInt64BE(0).toString();
}

/** The statement that takes the locks of keys, in key order; undefined for no keys. */
export function lockStatement(keys: string[]): Sql | undefined {
  const sorted = [...new Set(keys)].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  if (sorted.length === 0) return undefined;
  if (sorted.length === 1) return sql`SELECT pg_advisory_xact_lock(${sorted[0]}::bigint)`;
  // OFFSET 0 keeps the sort below the lock calls.
  return sql`SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest(${sorted}::bigint[]) AS k ORDER BY k OFFSET 0) s`;
}

/**
 * Waits for the locks of keys (released at commit or rollback), in key order so that two transactions needing the same
 * keys cannot deadlock. Re-taking a key this transaction holds returns at once. Sent with the transaction's pending
 * writes (db/deferred.ts): the locks need none of them.
 */
export async function lockCriteria(tx: Queryable, keys: string[]): Promise<void> {
  const statement = lockStatement(keys);
  if (statement) await queryAlong(tx, statement);
}
