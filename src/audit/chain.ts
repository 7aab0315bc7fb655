/**
 * Tamper evidence for the audit trail (issue #6 §5, audit-event.md §8.2): a hash chain of seals per tenant. Each seal
 * covers the events of the finished transactions in [xid_from, xid_to) in (xid, seq) order, so an event that
 * commits late still lands in a later seal, never in a gap. hash = SHA-256(prev_hash, each event's digest); mac =
 * HMAC of the seal under HEARTH_AUDIT_SEAL_SECRET, which lives outside the database, so that a database superuser
 * who rewrites rows and recomputes hashes still cannot forge the seals.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';

/** Events per seal at most (a seal ends at a transaction boundary past it): bounds the digests one row holds. */
export const MAX_SEAL_EVENTS = 50_000;
const BATCH = 2000;
export const GENESIS = '0'.repeat(64);

interface EventRow { seq: number | string; xid: string; recorded: Date | string; row: string }

export interface SealRow {
  seal_no: number | string;
  xid_from: string | number;
  xid_to: string | number;
  events: number;
  seqs: (number | string)[];
  digests: Buffer | Uint8Array;
  first_recorded: Date | string | null;
  last_recorded: Date | string | null;
  prev_hash: string;
  hash: string;
  mac: string | null;
}

/** An event's digest: SHA-256 of its whole row as canonical JSON (jsonb text, timestamps in UTC). */
export const eventDigest = (rowText: string): Buffer => crypto.createHash('sha256').update(rowText).digest();

export function sealHash(prevHash: string, digests: Buffer): string {
  return crypto.createHash('sha256').update(prevHash).update(digests).digest('hex');
}

export function sealMac(secret: string | undefined, s: { seal_no: number | string; xid_from: string | number; xid_to: string | number; events: number; hash: string }): string | null {
  if (!secret) return null;
  return crypto.createHmac('sha256', secret).update(`${s.seal_no}|${s.xid_from}|${s.xid_to}|${s.events}|${s.hash}`).digest('hex');
}

/** Rows as their digests are computed: the same text on PostgreSQL and PGlite, whatever the session's zone. */
export async function utc(tx: Queryable): Promise<void> {
  await tx.query(sql`SET LOCAL TimeZone = 'UTC'`);
}

/** Streams the events of [from, to) in chain order (to undefined: everything from `from` on). */
export async function eachEvent(tx: Queryable, schema: string, from: string, to: string | undefined,
  onRow: (row: EventRow) => boolean | void): Promise<void> {
  let after: [string, string] | undefined;
  for (;;) {
    const rows = await tx.query<EventRow>(sql`SELECT seq, xid::text AS xid, recorded, to_jsonb(e)::text AS row
      FROM ${ident(schema)}.audit_event e WHERE xid >= ${from}::bigint ${to !== undefined ? sql`AND xid < ${to}::bigint` : sql``}
      ${after ? sql`AND (xid, seq) > (${after[0]}::bigint, ${after[1]}::bigint)` : sql``}
      ORDER BY xid, seq LIMIT ${BATCH}`);
    for (const r of rows) if (onRow(r) === false) return;
    if (rows.length < BATCH) return;
    const last = rows[rows.length - 1]!;
    after = [last.xid, String(last.seq)];
  }
}

export async function lastSeal(tx: Queryable, schema: string): Promise<SealRow | undefined> {
  const rows = await tx.query<SealRow>(sql`SELECT * FROM ${ident(schema)}.audit_seal ORDER BY seal_no DESC LIMIT 1`);
  return rows[0];
}

export interface SealResult { sealNo: number; events: number }

/**
 * Seals what has finished since the last seal, in the caller's transaction (hold the tenant's advisory lock).
 * undefined when there was nothing to seal.
 */
export async function sealOnce(tx: Queryable, schema: string, secret: string | undefined): Promise<SealResult | undefined> {
  await utc(tx);
  const last = await lastSeal(tx, schema);
  const from = String(last?.xid_to ?? '0');
  // Every transaction below the snapshot's xmin has ended: its events are final (committed or never visible).
  const [{ horizon }] = await tx.query<{ horizon: string }>(sql`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon`) as [{ horizon: string }];
  if (BigInt(horizon) <= BigInt(from)) return undefined;
  const seqs: string[] = [];
  const digests: Buffer[] = [];
  let to = horizon;
  let first: Date | string | undefined;
  let lastRecorded: Date | string | undefined;
  let prevXid: string | undefined;
  await eachEvent(tx, schema, from, horizon, (r) => {
    if (digests.length >= MAX_SEAL_EVENTS && r.xid !== prevXid) {
      to = r.xid;
      return false;
    }
    prevXid = r.xid;
    seqs.push(String(r.seq));
    digests.push(eventDigest(r.row));
    const at = new Date(r.recorded);
    if (!first || at < new Date(first)) first = at;
    if (!lastRecorded || at > new Date(lastRecorded)) lastRecorded = at;
  });
  if (digests.length === 0) return undefined;
  const sealNo = Number(last?.seal_no ?? 0) + 1;
  const prevHash = last?.hash ?? GENESIS;
  const all = Buffer.concat(digests);
  const hash = sealHash(prevHash, all);
  const mac = sealMac(secret, { seal_no: sealNo, xid_from: from, xid_to: to, events: digests.length, hash });
  await tx.query(sql`INSERT INTO ${ident(schema)}.audit_seal (seal_no, xid_from, xid_to, events, seqs, digests,
      first_recorded, last_recorded, prev_hash, hash, mac)
    VALUES (${sealNo}, ${from}::bigint, ${to}::bigint, ${digests.length}, ${seqs}::bigint[], ${all}, ${first ?? null},
      ${lastRecorded ?? null}, ${prevHash}, ${hash}, ${mac})`);
  return { sealNo, events: digests.length };
}
