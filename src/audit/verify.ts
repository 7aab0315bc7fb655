/** Re-computes a tenant's audit hash chain and names the first event or seal that no longer matches (issue #6 §5). */
import type { Db, Queryable } from '../db/db.js';
import { declareCursor } from '../db/cursor.js';
import { ident, raw, sql } from '../db/sql.js';
import { DIGEST_FIELDS, type DigestFields, GENESIS, LEGACY_DIGEST, type SealRow, rowDigest, sealHash, sealMac, utc } from './chain.js';

export interface ChainReport {
  verified: boolean;
  seals: number;
  events: number;
  /** Events written since the last seal (checked by the next one). */
  unsealed: number;
  /** Seals whose events were partly archived by retention: only their links were checked. */
  archivedSeals: number;
  brokenSeal?: number;
  /** The first event that differs from what its seal recorded: its id if the row still exists. */
  firstBrokenEvent?: { seq: number; id?: string };
  message: string;
}

const SEAL_BATCH = 20;

interface SealCheck { problem?: string; event?: { seq: number; id?: string } }

async function eventId(q: Queryable, schema: string, seq: number): Promise<string | undefined> {
  const rows = await q.query<{ id: string }>(sql`SELECT id::text AS id FROM ${ident(schema)}.audit_event WHERE seq = ${seq}`);
  return rows[0]?.id;
}

const VERIFY_BATCH = 1000;

type StoredRow = DigestFields & { seq: number | string; text: string | null; legacy: Buffer | null };

/**
 * Each event of the seal's range with its digest re-computed from the row as stored now (never the digest column,
 * which whoever alters a row could alter too), in chain order, a batch at a time.
 */
function eachStoredEvent(tx: Queryable, schema: string, seal: SealRow, onRow: (seq: number, digest: Buffer) => boolean): Promise<void> {
  let stopped = false;
  return declareCursor<StoredRow>(tx, sql`SELECT seq, ${raw(DIGEST_FIELDS.map((f) => `e.${f}`).join(', '))},
      CASE WHEN digest IS NOT NULL THEN content::text END AS text,
      CASE WHEN digest IS NULL THEN ${raw(LEGACY_DIGEST)} END AS legacy
    FROM ${ident(schema)}.audit_event e WHERE xid >= ${String(seal.xid_from)}::bigint AND xid < ${String(seal.xid_to)}::bigint
    ORDER BY xid, seq`, VERIFY_BATCH, async (rows) => {
    for (const r of rows) {
      if (stopped) return;
      const digest = r.text !== null ? rowDigest(r, r.text) : Buffer.from(r.legacy!);
      if (!onRow(Number(r.seq), digest)) stopped = true;
    }
  });
}

/** The events of one seal against its digests, position by position. */
async function checkEvents(tx: Queryable, schema: string, seal: SealRow): Promise<SealCheck> {
  const digests = Buffer.from(seal.digests);
  const seqs = seal.seqs.map(Number);
  let i = 0;
  let found: SealCheck = {};
  const all: Buffer[] = [];
  await eachStoredEvent(tx, schema, seal, (seq, digest) => {
    all.push(digest);
    if (seqs[i] !== seq) {
      const missing = seqs[i] !== undefined && seqs[i]! < seq;
      found = missing
        ? { problem: `event seq ${seqs[i]} is missing`, event: { seq: seqs[i]! } }
        : { problem: `event seq ${seq} was not in the seal`, event: { seq } };
      return false;
    }
    if (!digest.equals(digests.subarray(i * 32, i * 32 + 32))) {
      found = { problem: `event seq ${seq} was altered`, event: { seq } };
      return false;
    }
    i++;
    return true;
  });
  if (found.problem) return found;
  if (i < seqs.length) return { problem: `event seq ${seqs[i]} is missing`, event: { seq: seqs[i]! } };
  if (sealHash(seal.prev_hash, Buffer.concat(all)) !== seal.hash) return { problem: 'the seal hash does not match its events' };
  return {};
}

/** Verifies every seal after the archived ones, in order, inside one read-only snapshot. */
export function verifyChain(db: Db, schema: string, secret: string | undefined): Promise<ChainReport> {
  return db.transaction(async (tx) => {
    await utc(tx);
    const [archive] = await tx.query<{ through: number | string | null; horizon: Date | null }>(sql`SELECT max(through_seal) AS through,
      max(range_to) AS horizon FROM ${ident(schema)}.audit_archive`);
    const horizon = archive?.horizon ? new Date(archive.horizon) : undefined;
    let prev: SealRow | undefined;
    let after = Number(archive?.through ?? 0);
    if (after > 0) {
      prev = (await tx.query<SealRow>(sql`SELECT * FROM ${ident(schema)}.audit_seal WHERE seal_no = ${after}`))[0];
    }
    const report: ChainReport = { verified: true, seals: 0, events: 0, unsealed: 0, archivedSeals: 0, message: '' };
    const fail = async (seal: SealRow, problem: string, event?: { seq: number; id?: string }) => {
      report.verified = false;
      report.brokenSeal = Number(seal.seal_no);
      if (event) {
        const id = event.id ?? await eventId(tx, schema, event.seq);
        report.firstBrokenEvent = { seq: event.seq, ...(id ? { id } : {}) };
      }
      report.message = `Seal ${seal.seal_no}: ${problem}`;
      return report;
    };
    for (;;) {
      const seals = await tx.query<SealRow>(sql`SELECT * FROM ${ident(schema)}.audit_seal WHERE seal_no > ${after}
        ORDER BY seal_no LIMIT ${SEAL_BATCH}`);
      for (const seal of seals) {
        const no = Number(seal.seal_no);
        if (no !== after + 1) return fail(seal, `seal ${after + 1} is missing`);
        if (seal.prev_hash !== (prev?.hash ?? GENESIS)) return fail(seal, 'it does not link to the previous seal');
        if (prev && String(seal.xid_from) !== String(prev.xid_to)) return fail(seal, 'its range does not start where the previous seal ended');
        if (!prev && after === 0 && String(seal.xid_from) !== '0') return fail(seal, 'the first seal does not start the chain');
        const mac = sealMac(secret, seal);
        if (secret && seal.mac !== mac) return fail(seal, 'its signature (HMAC) is not valid');
        if (horizon && seal.first_recorded && new Date(seal.first_recorded) < horizon) {
          report.archivedSeals++;
        } else {
          const check = await checkEvents(tx, schema, seal);
          if (check.problem) return fail(seal, check.problem, check.event);
          report.events += seal.events;
        }
        report.seals++;
        prev = seal;
        after = no;
      }
      if (seals.length < SEAL_BATCH) break;
    }
    const [{ n }] = await tx.query<{ n: number | string }>(sql`SELECT count(*) AS n FROM ${ident(schema)}.audit_event
      WHERE xid >= ${String(prev?.xid_to ?? '0')}::bigint`) as [{ n: number | string }];
    report.unsealed = Number(n);
    report.message = `${report.seals} seal(s) and ${report.events} event(s) verified; ${report.unsealed} event(s) not sealed yet`;
    return report;
  }, { retries: 0 });
}
