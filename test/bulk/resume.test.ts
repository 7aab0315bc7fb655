/**
 * An export interrupted by a crash resumes where it stopped and produces the same files (issue #7 §5): in process
 * (a worker dying between writing lines and recording them, its lease lapsing), and on PostgreSQL with a real
 * process killed by SIGKILL mid-export.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { getJob } from '../../src/jobs/queue.js';
import { usingPostgres } from '../helpers/server.js';
import { exportFiles, expireLeases, jobOf, localPath, runExportJobWith, runJobs, seedResources, startBulkServer } from './helpers.js';

const N = 3000;

t.test('a crashed export resumes from its checkpoint: same files, as of its transactionTime', async (t) => {
  const s = await startBulkServer(t, { HEARTH_EXPORT_FILE_RESOURCES: '700', HEARTH_EXPORT_MAX_JOBS: '5' });
  await seedResources(s, N, { history: true });

  const reference = await s.request('GET', '$export');
  t.equal(await runExportJobWith(s, { pageSize: 100 }, async () => undefined), 'completed');
  const expected = await exportFiles(s, jobOf(String(reference.headers['content-location'])));
  t.same([...expected.keys()], ['Encounter-1.ndjson', 'Encounter-2.ndjson', 'Observation-1.ndjson', 'Observation-2.ndjson',
    'Patient-1.ndjson', 'Patient-2.ndjson']);

  const kick = await s.request('GET', '$export');
  const job = jobOf(String(kick.headers['content-location']));
  let crashedAt = 0;
  const outcome = await runExportJobWith(s, { pageSize: 100, checkpointMs: 0 }, async (p, call) => {
    if (call < 4) return undefined;
    crashedAt = Number(p.cursor);
    return 'crash'; // lines up to p.cursor are on disk, their checkpoint is not recorded
  });
  t.equal(outcome, 'crashed');
  const saved = (await getJob(s.deps.db, s.slug, job))!;
  t.equal(saved.status, 'running', 'the dead worker still holds the job');
  t.ok(Number(saved.progress.cursor) > 0 && Number(saved.progress.cursor) < crashedAt, 'resume point saved before the crash');

  // Changes after the export's transactionTime must not show in its files.
  t.equal((await s.request('PUT', 'Patient/r3', { body: { resourceType: 'Patient', id: 'r3', gender: 'other' } })).statusCode, 200);
  t.equal((await s.request('DELETE', `Observation/r${N - 2}`)).statusCode, 204);
  t.equal((await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).statusCode, 201);

  t.equal((await s.request('GET', localPath(String(kick.headers['content-location'])))).statusCode, 202, 'still in progress');
  await expireLeases(s);
  t.equal(await runJobs(s), 1, 'another worker takes the job over once the lease lapses');
  const done = (await getJob(s.deps.db, s.slug, job))!;
  t.equal(done.status, 'completed');
  t.equal(done.attempts, 2);
  const got = await exportFiles(s, job);
  t.same([...got.keys()], [...expected.keys()], 'the same files');
  for (const [name, bytes] of expected) t.ok(bytes.equals(got.get(name)!), `${name}: byte for byte`);
  const manifest = (await s.request('GET', localPath(String(kick.headers['content-location'])))).json();
  t.equal(manifest.output.reduce((n: number, o: { count: number }) => n + o.count, 0), N);
});

t.test('DELETE during an export stops it at its next checkpoint and removes its files', async (t) => {
  const s = await startBulkServer(t);
  await seedResources(s, 1000);
  const kick = await s.request('GET', '$export');
  const status = localPath(String(kick.headers['content-location']));
  const job = jobOf(status);
  const outcome = await runExportJobWith(s, { pageSize: 100, checkpointMs: 0 }, async (_p, call) => {
    if (call === 3) t.equal((await s.request('DELETE', status)).statusCode, 202);
  });
  t.equal(outcome, 'cancelled');
  t.equal((await getJob(s.deps.db, s.slug, job))!.status, 'cancelled');
  t.notOk(fs.existsSync(path.join(s.exportDir, s.slug, job)), 'no file left');
  t.equal((await s.request('GET', status)).statusCode, 404);
});

t.test('SIGKILL of the process running an export, then a restart: the resumed job produces the same files',
  { skip: usingPostgres() ? false : 'needs PostgreSQL: a PGlite database lives inside the killed process' }, async (t) => {
    const s = await startBulkServer(t, { HEARTH_EXPORT_FILE_RESOURCES: '700' });
    await seedResources(s, N, { history: true });
    const reference = await s.request('GET', '$export');
    await runJobs(s);
    const expected = await exportFiles(s, jobOf(String(reference.headers['content-location'])));

    const kick = await s.request('GET', '$export');
    const job = jobOf(String(kick.headers['content-location']));
    const child = fork(path.join(import.meta.dirname, 'worker-node.ts'), [], {
      execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, BULK_TENANT: s.slug, HEARTH_EXPORT_DIR: s.exportDir, HEARTH_EXPORT_FILE_RESOURCES: '700', HEARTH_LOG_LEVEL: 'silent' },
    });
    const exited = new Promise((r) => child.once('exit', r));
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    for (let i = 0; ; i++) {
      const p = (await getJob(s.deps.db, s.slug, job))!.progress;
      if (Number(p.done ?? 0) >= 600) break;
      if (i > 1200) throw new Error('the worker process made no progress');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const killed = (await getJob(s.deps.db, s.slug, job))!;
    t.equal(killed.status, 'running', 'killed mid-export');
    t.ok(Number(killed.progress.done) < N);
    await expireLeases(s);
    t.equal(await runJobs(s), 1);
    const done = (await getJob(s.deps.db, s.slug, job))!;
    t.equal(done.status, 'completed');
    t.equal(done.attempts, 2);
    const got = await exportFiles(s, job);
    t.same([...got.keys()], [...expected.keys()]);
    for (const [name, bytes] of expected) t.ok(bytes.equals(got.get(name)!), `${name}: byte for byte`);
  });
