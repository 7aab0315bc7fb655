/**
 * transactionTime (bulk-data.md §5.5): an instant T such that every change stamped at or before T is committed before
 * the export reads anything, so that the as-of-T selection (storage/as-of.ts) is the same on every page and after a restart.
 * Versions are stamped by the writing node's clock before their transaction's first statement; on PostgreSQL the job
 * waits out the write transactions of this database that were open just after T. PGlite is one session: a writer that
 * stamped a version before T holds it until it commits, so the export's first query already runs after it.
 */
import type { Db } from '../db/db.js';
import { sql } from '../db/sql.js';

/** How long after T a writer that stamped a version at T may take to reach its first statement (and get an xid). */
const GRACE_MS = 250;
const POLL_MS = 50;
/** A write transaction open longer than this is not waited for (it would be a stuck session, not a request). */
const MAX_WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForWriters(db: Db): Promise<void> {
  await sleep(GRACE_MS);
  const open = await db.query<{ pid: number; xid: string }>(sql`SELECT pid, backend_xid::text AS xid FROM pg_stat_activity
    WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()`);
  const deadline = Date.now() + MAX_WAIT_MS;
  let pending = open;
  while (pending.length > 0 && Date.now() < deadline) {
    await sleep(POLL_MS);
    const still = await db.query<{ pid: number; xid: string }>(sql`SELECT pid, backend_xid::text AS xid FROM pg_stat_activity
      WHERE datname = current_database() AND backend_xid IS NOT NULL`);
    pending = pending.filter((p) => still.some((s) => s.pid === p.pid && s.xid === p.xid));
  }
}

/** Picks T (now) and returns once every write that could be stamped at or before T has committed or rolled back. */
export async function chooseTransactionTime(db: Db): Promise<Date> {
  const t = new Date();
  if (db.kind === 'postgres') await waitForWriters(db);
  return t;
}
