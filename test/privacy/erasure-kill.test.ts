/**
 * SIGKILL of the process running a patient's erasure mid-batch, then a restart (issue #17 "Bad input and faults"):
 * the committed batch stays erased, the killed one rolls back whole, and the job taken over by another worker ends
 * with every resource erased exactly once and one erasure record. PostgreSQL only: a PGlite database lives inside
 * the process that is killed.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { getJob } from '../../src/jobs/queue.js';
import { eraseJob } from '../../src/operations/erase.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { expireLeases } from '../bulk/helpers.js';
import { runTenantJobs } from '../bulk/tenant-worker.js';
import { startServer, usingPostgres } from '../helpers/server.js';

const OBSERVATIONS = 120; // three batches of 50 with the Patient: the kill lands in the second

t.test('SIGKILL mid-batch during an erasure, then a restart: everything erased once', {
  skip: usingPostgres() ? false : 'needs PostgreSQL: a PGlite database lives inside the killed process' }, async (t) => {
  const s = await startServer(t);
  const S = ident(schemaFor(s.slug));
  const eraser = { authorization: `Bearer ${await s.token('system/*.cruds system/$erase')}` };
  await s.request('PUT', 'Patient/k', { body: { resourceType: 'Patient', id: 'k', name: [{ family: 'Killed' }] } });
  const entry = Array.from({ length: OBSERVATIONS }, (_, i) => ({ request: { method: 'PUT', url: `Observation/k${i}` },
    resource: { resourceType: 'Observation', id: `k${i}`, status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/k' } } }));
  t.equal((await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } })).statusCode, 200);
  const kick = await s.request('POST', 'Patient/k/$erase', { headers: eraser,
    body: { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: 'Erasure request 99' }] } });
  t.equal(kick.statusCode, 202, kick.body);
  const job = new URL(String(kick.headers['content-location'])).searchParams.get('id')!;
  const versions = async () => (await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.resource_version
    WHERE (type = 'Observation' AND id LIKE 'k%') OR (type = 'Patient' AND id = 'k')`))[0]!.n;

  const child = fork(path.join(import.meta.dirname, 'hanging-worker-node.ts'), [], {
    execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, WORKER_TENANT: s.slug, WORKER_KIND: 'erase', HEARTH_LOG_LEVEL: 'silent' },
  });
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the worker process never reached its second batch')), 120_000);
    child.once('message', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker process exited (${code}) first`)); });
  });
  process.kill(child.pid!, 'SIGKILL');
  await exited;

  const killed = (await getJob(s.deps.db, s.slug, job))!;
  t.equal(killed.status, 'running', 'the dead worker still holds the job');
  t.equal(killed.progress.done, 50, 'the first batch committed with its progress');
  t.equal(await versions(), OBSERVATIONS + 1 - 50, 'the killed batch rolled back whole');

  await expireLeases(s);
  t.equal(await runTenantJobs(s.deps, s.slug, eraseJob, 'erase'), 1, 'another worker takes the job over once the lease lapses');
  const done = (await getJob(s.deps.db, s.slug, job))!;
  t.equal(done.status, 'completed', done.error ?? '');
  t.match(done.result, { resources: OBSERVATIONS + 1, versions: OBSERVATIONS + 1 }, 'each resource counted once');
  t.equal(await versions(), 0, 'nothing of the patient left');
  t.equal((await s.request('GET', 'Patient/k')).statusCode, 410);
  const audit = await s.request('GET', 'AuditEvent?entity=Patient/k&subtype=erasure', { headers: {
    authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } });
  t.equal((audit.json() as { entry?: unknown[] }).entry?.length, 1, 'one erasure record');
});
