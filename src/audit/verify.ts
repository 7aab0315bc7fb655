/** Re-computes a tenant's audit hash chain and names the first event or seal that no longer matches (issue #6 §5, #12 §10). */
import crypto from 'node:crypto';
import type { Db, Queryable } from '../db/db.js';
import { declareCursor } from '../db/cursor.js';
import { ident, raw, sql } from '../db/sql.js';
import { DIGEST_FIELDS, type DigestFields, GENESIS, LEGACY_DIGEST, type SealRow, rowDigest, sealHash, sealMac, utc } from './chain.js';

export interface ChainReport {
  verified: boolean;
  /** False when the run stopped at its time limit before the last seal. */
  complete: boolean;
  seals: number;
  /** Sealed events verified: re-computed by this run, or by an earlier one up to its checkpoint. */
  events: number;
  /** Events re-computed by this run. */
  recomputed: number;
  /** The seal after which this run re-computed events (0: from the start of the chain). */
  resumedAfterSeal: number;
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
const LIGHT_BATCH = 1000;

interface SealCheck { problem?: string; event?: { seq: number; id?: string } }

async function eventId(q: Queryable, schema: string, seq: number): Promise<string | undefined> {
  const rows = await q.query<{ id: string }>(sql`SELECT id::text AS id FROM ${ident(schema)}.audit_event WHERE seq = ${seq}`);
  return rows[0]?.id;
}

const VERIFY_BATCH = 1000;

type StoredRow = DigestFields & { seq: number | string; text: string | null; sealed_body: Buffer | null; legacy: Buffer | null };

/** The JSON text of an encrypted event, or null (then no digest matches) when it does not open under the tenant's keys. */
async function openedText(tx: Queryable, schema: string, r: StoredRow): Promise<string | null> {
  try {
    return await tx.keyring!.openText(schema, 'AuditEvent', String(r.id), 1, r.sealed_body!);
  } catch {
    return null;
  }
}

/**
 * Each event of the seal's range with its digest re-computed from the row as stored now (never the digest column,
 * which whoever alters a row could alter too), in chain order, a batch at a time.
 */
function eachStoredEvent(tx: Queryable, schema: string, seal: SealRow, onRow: (seq: number, digest: Buffer) => boolean): Promise<void> {
  let stopped = false;
  return declareCursor<StoredRow>(tx, sql`SELECT seq, ${raw(DIGEST_FIELDS.map((f) => `e.${f}`).join(', '))},
      CASE WHEN digest IS NOT NULL THEN content::text END AS text, CASE WHEN digest IS NOT NULL THEN e.sealed END AS sealed_body,
      CASE WHEN digest IS NULL THEN ${raw(LEGACY_DIGEST)} END AS legacy
    FROM ${ident(schema)}.audit_event e WHERE xid >= ${String(seal.xid_from)}::bigint AND xid < ${String(seal.xid_to)}::bigint
    ORDER BY xid, seq`, VERIFY_BATCH, async (rows) => {
    for (const r of rows) {
      if (stopped) return;
      // An encrypted body was sealed as the very text its digest is over; one that does not open counts as altered.
      const text = r.sealed_body ? await openedText(tx, schema, r) : r.text;
      const digest = text !== null ? rowDigest(r, text) : r.legacy ? Buffer.from(r.legacy) : Buffer.alloc(32);
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

export interface VerifyOptions {
  /** Re-compute every sealed event, ignoring how far an earlier run got. */
  full?: boolean;
  /**
   * Stop (and remember how far verification got) once this much time has passed; checked between seals, after at least
   * one seal's events were re-computed so that successive runs always progress.
   */
  deadlineMs?: number;
  /** The statement timeout of the run's transaction. */
  statementTimeoutMs?: number;
}

/** The seal columns every run checks (links, ranges, HMAC); seqs and digests only for seals whose events it re-computes. */
const sealColumns = (recomputeAfter: number) => sql`seal_no, xid_from, xid_to, events, first_recorded, last_recorded, prev_hash, hash,
  mac, CASE WHEN seal_no > ${recomputeAfter} THEN seqs END AS seqs, CASE WHEN seal_no > ${recomputeAfter} THEN digests END AS digests`;

/**
 * Verifies the chain inside one snapshot: every seal after the archived ones is checked against the previous one (link,
 * range, HMAC), which is cheap; the events are re-computed only for seals after the checkpoint an earlier run left in
 * audit_verification (issue #12 §10), all of them with `full`. Bounded by `deadlineMs`: a run that reaches it reports
 * `complete: false` and the next run goes on from where it stopped.
 */
export function verifyChain(db: Db, schema: string, secret: string | undefined, options: VerifyOptions = {}): Promise<ChainReport> {
  const end = options.deadlineMs ? Date.now() + options.deadlineMs : Infinity;
  return db.transaction(async (tx) => {
    await utc(tx);
    const [archive] = await tx.query<{ through: number | string | null; horizon: Date | null }>(sql`SELECT max(through_seal) AS through,
      max(range_to) AS horizon FROM ${ident(schema)}.audit_archive`);
    const horizon = archive?.horizon ? new Date(archive.horizon) : undefined;
    let prev: SealRow | undefined;
    let after = Number(archive?.through ?? 0);
    if (after > 0) {
      prev = (await tx.query<SealRow>(sql`SELECT ${sealColumns(Number.MAX_SAFE_INTEGER)} FROM ${ident(schema)}.audit_seal WHERE seal_no = ${after}`))[0];
    }
    const checkpoint = options.full ? undefined : await readCheckpoint(tx, schema, secret);
    const resumed = Math.max(checkpoint?.through ?? 0, after);
    const report: ChainReport = { verified: true, complete: true, seals: 0, events: 0, recomputed: 0, resumedAfterSeal: resumed,
      unsealed: 0, archivedSeals: 0, message: '' };
    /** The last seal that passed: its events re-computed now or by an earlier run (the checkpoint to remember). */
    let good = prev;
    const fail = async (seal: SealRow, problem: string, event?: { seq: number; id?: string }) => {
      report.verified = false;
      report.brokenSeal = Number(seal.seal_no);
      if (event) {
        const id = event.id ?? await eventId(tx, schema, event.seq);
        report.firstBrokenEvent = { seq: event.seq, ...(id ? { id } : {}) };
      }
      report.message = `Seal ${seal.seal_no}: ${problem}`;
      await saveCheckpoint(tx, schema, secret, good);
      return report;
    };
    for (;;) {
      // Up to the checkpoint the rows are small (no digests): many at a time.
      const light = after < resumed;
      const limit = light ? LIGHT_BATCH : SEAL_BATCH;
      const seals = await tx.query<SealRow>(sql`SELECT ${sealColumns(resumed)} FROM ${ident(schema)}.audit_seal
        WHERE seal_no > ${after} ${light ? sql`AND seal_no <= ${resumed}` : sql``} ORDER BY seal_no LIMIT ${limit}`);
      if (seals.length === 0) break;
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
        } else if (no > resumed) {
          if (report.recomputed > 0 && Date.now() > end) {
            report.complete = false;
            break;
          }
          const check = await checkEvents(tx, schema, seal);
          if (check.problem) return fail(seal, check.problem, check.event);
          report.events += seal.events;
          report.recomputed += seal.events;
        } else {
          report.events += seal.events;
        }
        good = seal;
        report.seals++;
        prev = seal;
        after = no;
      }
      if (!report.complete || (!light && seals.length < limit)) break;
    }
    await saveCheckpoint(tx, schema, secret, good);
    if (!report.complete) {
      report.message = `Stopped at the time limit (${options.deadlineMs} ms) after seal ${after}: ${report.seals} seal(s) and ` +
        `${report.events} event(s) verified so far; call again to continue from there`;
      return report;
    }
    const [{ n }] = await tx.query<{ n: number | string }>(sql`SELECT count(*) AS n FROM ${ident(schema)}.audit_event
      WHERE xid >= ${String(prev?.xid_to ?? '0')}::bigint`) as [{ n: number | string }];
    report.unsealed = Number(n);
    report.message = `${report.seals} seal(s) and ${report.events} event(s) verified (${report.recomputed} re-computed now` +
      `${resumed > 0 ? `, after seal ${resumed}` : ''}); ${report.unsealed} event(s) not sealed yet`;
    return report;
  }, { retries: 0, ...(options.statementTimeoutMs ? { statementTimeoutMs: options.statementTimeoutMs } : {}) });
}

interface Checkpoint { through: number; hash: string }

const checkpointMac = (secret: string | undefined, through: number, hash: string) =>
  secret ? crypto.createHmac('sha256', secret).update(`verified|${through}|${hash}`).digest('hex') : null;

/** How far an earlier run re-computed the events; ignored when its HMAC does not match (it could skip tampered seals). */
async function readCheckpoint(tx: Queryable, schema: string, secret: string | undefined): Promise<Checkpoint | undefined> {
  const [row] = await tx.query<{ through: number | string; hash: string; mac: string | null }>(sql`SELECT through_seal AS through,
    seal_hash AS hash, mac FROM ${ident(schema)}.audit_verification`);
  if (!row || (secret && row.mac !== checkpointMac(secret, Number(row.through), row.hash))) return undefined;
  // The seal it names must be the one verified then (without a seal secret a seal could be rewritten since).
  const [seal] = await tx.query<{ hash: string }>(sql`SELECT hash FROM ${ident(schema)}.audit_seal WHERE seal_no = ${Number(row.through)}`);
  if (Number(row.through) > 0 && seal?.hash !== row.hash) return undefined;
  return { through: Number(row.through), hash: row.hash };
}

/**
 * Remembers the last seal that passed. Overwritten by every run, backwards too: a run that found a break before it must
 * move it back, and one that replaces a forged row must replace it; a concurrent run's older answer only costs work.
 */
async function saveCheckpoint(tx: Queryable, schema: string, secret: string | undefined, seal: SealRow | undefined) {
  const through = seal ? Number(seal.seal_no) : 0;
  const hash = seal?.hash ?? GENESIS;
  await tx.query(sql`INSERT INTO ${ident(schema)}.audit_verification (through_seal, seal_hash, mac)
    VALUES (${through}, ${hash}, ${checkpointMac(secret, through, hash)})
    ON CONFLICT (singleton) DO UPDATE SET through_seal = excluded.through_seal, seal_hash = excluded.seal_hash, mac = excluded.mac,
      verified_at = now()`);
}
