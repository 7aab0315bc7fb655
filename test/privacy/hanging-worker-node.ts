/**
 * A Hearth node that only runs one tenant's jobs of one kind (WORKER_TENANT, WORKER_KIND: erase or rekey), for the
 * SIGKILL tests (erasure-kill.test.ts, rekey-kill.test.ts): in the job's second transaction the batch's changes are
 * sent but not committed when it tells the test (IPC) and waits — so the kill lands mid-batch, after exactly one
 * committed batch, every run.
 */
import { createDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Db } from '../../src/db/db.js';
import { sql } from '../../src/db/sql.js';
import { eraseJob } from '../../src/operations/erase.js';
import { rekey } from '../../src/jobs/rekey.js';
import { runTenantJobs } from '../bulk/tenant-worker.js';

const deps = await createDeps(loadConfig());
const db = deps.db;
let transactions = 0;
const hanging: Db = {
  kind: db.kind,
  keyring: db.keyring,
  query: (q) => db.query(q),
  exec: (script) => db.exec(script),
  cursor: (q, size, onBatch) => db.cursor(q, size, onBatch),
  listen: (channel, handlers) => db.listen(channel, handlers),
  close: () => db.close(),
  transaction: (fn, options) => db.transaction(async (tx) => {
    const result = await fn(tx);
    if (++transactions === 2) {
      await tx.query(sql`SELECT 1`);
      process.send!('mid-batch');
      await new Promise((r) => setTimeout(r, 60_000));
    }
    return result;
  }, options),
};
for (;;) {
  const kind = process.env.WORKER_KIND!;
  const handler = kind === 'rekey' ? rekey : eraseJob;
  await runTenantJobs(deps, process.env.WORKER_TENANT!, (ctx) => handler({ ...ctx, deps: { ...deps, db: hanging } }), kind);
  await new Promise((r) => setTimeout(r, 50));
}
