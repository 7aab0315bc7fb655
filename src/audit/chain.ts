/**
 * Tamper evidence for the audit trail (issue #6 §5, audit-event.md §8.2): a hash chain of seals per tenant. Each seal
 * covers the events of the finished transactions in [xid_from, xid_to) in (xid, seq) order, so an event that
 * commits late still lands in a later seal, never in a gap. hash = SHA-256(prev_hash, each event's digest); mac =
 * HMAC of the seal under HEARTH_AUDIT_SEAL_SECRET, which lives outside the database, so that a database superuser
 * who rewrites rows and recomputes hashes still cannot forge the seals.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ident, raw, sql } from '../db/sql.js';

/** Events per seal at most (a seal ends at a transaction boundary past it): bounds the digests one row holds. */
export const MAX_SEAL_EVENTS = 50_000;
export const GENESIS = '0'.repeat(64);

interface EventRow { seq: number | string; xid: string; recorded: Date | string; digest: Buffer }

/** The fields of an event row that its digest covers besides the JSON text, in this order (seq and xid are the seal's). */
export const DIGEST_FIELDS = ['id', 'recorded', 'type', 'subtype', 'action', 'outcome', 'agent', 'agent_identifier', 'altid',
  'policy', 'address', 'entity', 'entity_type', 'entity_role', 'patient', 'source', 'site', 'client_reported'] as const;
export type DigestFields = Record<(typeof DIGEST_FIELDS)[number], unknown>;

/**
 * An event row's digest: SHA-256 of its fields (recorded as an ISO instant) as one JSON array, a newline, and the
 * resource's JSON text exactly as stored. Computed when the row is written and again, from the stored row, when the
 * chain is verified.
 */
export function rowDigest(fields: DigestFields, content: string): Buffer {
  const values = DIGEST_FIELDS.map((f) => {
    const v = fields[f];
    return v instanceof Date ? v.toISOString() : v ?? null;
  });
  return crypto.createHash('sha256').update(JSON.stringify(values)).update('\n').update(content).digest();
}

/**
 * The digest of a row written before rows carried one (migration 007): jsonb text of the row, without that column
 * (nor `sealed`, added later by migration 023 and always NULL on such a row).
 */
export const LEGACY_DIGEST = "sha256(convert_to((to_jsonb(e) - 'digest' - 'sealed')::text, 'UTF8'))";

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

/**
 * The events of the transactions in [from, to) in chain order, each with the digest written with it (a row from
 * before migration 007 gets its digest computed here). A range holds at most about MAX_SEAL_EVENTS events (sealOnce
 * cuts it so), which the caller receives at once, tens of bytes each. Measured (PostgreSQL 15, 2 KB events): about
 * 3 µs of database CPU an event, against 30 µs to serialise and hash each row in the database.
 */
export async function rangeEvents(tx: Queryable, schema: string, from: string, to: string): Promise<EventRow[]> {
  return tx.query<EventRow>(sql`SELECT seq, xid::text AS xid, recorded, coalesce(digest, ${raw(LEGACY_DIGEST)}) AS digest
    FROM ${ident(schema)}.audit_event e WHERE xid >= ${from}::bigint AND xid < ${to}::bigint ORDER BY xid, seq`);
}

/**
 * Where a seal starting at `from` ends: the horizon, or sooner at a transaction boundary once MAX_SEAL_EVENTS are
 * covered (a single larger transaction still goes whole into one seal).
 */
async function sealEnd(tx: Queryable, schema: string, from: string, horizon: string): Promise<string> {
  const table = sql`${ident(schema)}.audit_event`;
  const [cut] = await tx.query<{ xid: string }>(sql`SELECT xid::text AS xid FROM ${table}
    WHERE xid >= ${from}::bigint AND xid < ${horizon}::bigint ORDER BY xid OFFSET ${MAX_SEAL_EVENTS} LIMIT 1`);
  if (!cut) return horizon;
  const [first] = await tx.query<{ xid: string }>(sql`SELECT min(xid)::text AS xid FROM ${table}
    WHERE xid >= ${from}::bigint AND xid < ${horizon}::bigint`);
  if (first?.xid !== cut.xid) return cut.xid;
  const [next] = await tx.query<{ xid: string | null }>(sql`SELECT min(xid)::text AS xid FROM ${table}
    WHERE xid > ${cut.xid}::bigint AND xid < ${horizon}::bigint`);
  return next?.xid ?? horizon;
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
  const to = await sealEnd(tx, schema, from, horizon);
  const rows = await rangeEvents(tx, schema, from, to);
  const seqs = rows.map((r) => String(r.seq));
  const digests = rows.map((r) => Buffer.from(r.digest));
  const instants = rows.map((r) => new Date(r.recorded).getTime());
  const first = instants.length ? new Date(instants.reduce((a, b) => Math.min(a, b))) : undefined;
  const lastRecorded = instants.length ? new Date(instants.reduce((a, b) => Math.max(a, b))) : undefined;
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
