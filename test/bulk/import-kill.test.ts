/**
 * `kill -9` during `$import` (issue #14 §3): a worker process killed mid-batch leaves the job running at its last
 * checkpoint; once its lease lapses another worker resumes it, and the final counts, the stored resources and the
 * outcome equal the input's — no batch written twice, no refused line reported twice or lost.
 */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { OUTCOME_FILE, createImportJob } from '../../src/bulk/import-job.js';
import { ident, sql } from '../../src/db/sql.js';
import { getJob } from '../../src/jobs/queue.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { type TestServer, usingPostgres } from '../helpers/server.js';
import { expireLeases, fetchLines, jobOf, localPath, startBulkServer } from './helpers.js';
import { runTenantJobs } from './tenant-worker.js';

const N = 3000;
const BATCH = 50;
/** Refused lines by number: before the kill, in the killed batch (written to the outcome, not checkpointed), after it. */
const BAD = new Map([
  [7, '{not json'],
  [613, JSON.stringify({ resourceType: 'Patient', id: 'bad-613', gender: 'no-such-code' })],
  [1029, JSON.stringify({ resourceType: 'Observation', id: 'obs-1029', status: 'final', code: { text: 'x' } })],
  [N, '[1,2]'],
]);
/** The worker stops inside the batch that holds this line; that batch began after line 1002 (the 1000th valid line). */
const HANG_LINE = 1030;
const idOf = (line: number) => `kill-${line}`;
const lineNumbers = Array.from({ length: N }, (_, i) => i + 1);
const valid = lineNumbers.filter((n) => !BAD.has(n));

function writeInput(dir: string): string {
  const lines = lineNumbers.map((n) => BAD.get(n) ?? JSON.stringify({ resourceType: 'Patient', id: idOf(n), name: [{ family: `F${n}` }] }));
  const file = path.join(dir, 'patients.ndjson');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return pathToFileURL(file).href;
}

/**
 * Waits for the worker to reach the batch it stops in: up to 120 s, since a loaded CI machine once needed more than
 * 20 s to start the process and import 1,000 lines.
 */
function untilMidBatch(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the worker process never reached the batch it stops in')), 120_000);
    child.once('message', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker process exited (${code}) before the batch it stops in`)); });
  });
}

const rows = async (s: TestServer, q: (schema: ReturnType<typeof ident>) => ReturnType<typeof sql>) =>
  s.deps.db.query<Record<string, number | string>>(q(ident(schemaFor(s.slug))));

t.test('SIGKILL of the process running an $import mid-batch, then a restart: each valid line stored once, each bad line reported once',
  { skip: usingPostgres() ? false : 'needs PostgreSQL: a PGlite database lives inside the killed process' }, async (t) => {
    const importDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-import-kill-'));
    t.teardown(() => fs.rmSync(importDir, { recursive: true, force: true }));
    const url = writeInput(importDir);
    const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: importDir });
    const kick = await s.request('POST', '$import', { headers: { prefer: 'respond-async' }, body: { resourceType: 'Parameters',
      parameter: [{ name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
        { name: 'input', part: [{ name: 'type', valueCode: 'Patient' }, { name: 'url', valueUrl: url }] }] } });
    t.equal(kick.statusCode, 202, kick.body);
    const status = localPath(String(kick.headers['content-location']));
    const job = jobOf(status);

    const child = fork(path.join(import.meta.dirname, 'import-worker-node.ts'), [], {
      execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, BULK_TENANT: s.slug, HEARTH_EXPORT_DIR: s.exportDir, HEARTH_LOG_LEVEL: 'silent',
        IMPORT_BATCH: String(BATCH), IMPORT_HANG_ID: idOf(HANG_LINE) },
    });
    const exited = new Promise((r) => child.once('exit', r));
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    await untilMidBatch(child);
    process.kill(child.pid!, 'SIGKILL');
    await exited;

    const killed = (await getJob(s.deps.db, s.slug, job))!;
    t.equal(killed.status, 'running', 'the dead worker still holds the job');
    t.same([killed.progress.line, killed.progress.done], [1002, 1000], 'resume point: after the 20th batch of 50, before line 1029');
    t.same(await rows(s, (x) => sql`SELECT count(*)::int AS n FROM ${x}.resource`), [{ n: 1000 }], 'nothing of the killed batch committed');
    const outcomeFile = path.join(s.exportDir, s.slug, job, OUTCOME_FILE);
    t.ok(fs.statSync(outcomeFile).size > Number(killed.progress.outcomeBytes),
      "line 1029's refusal is in the outcome file but not in the checkpoint: the resumed job must drop it, not repeat it");
    t.equal((await s.request('GET', status)).statusCode, 202, 'still in progress');

    await expireLeases(s);
    t.equal(await runTenantJobs(s.deps, s.slug, createImportJob(), 'import'), 1, 'another worker takes the job over once the lease lapses');
    const done = (await getJob(s.deps.db, s.slug, job))!;
    t.equal(done.status, 'completed', done.error ?? '');
    t.equal(done.attempts, 2);

    const reply = await s.request('GET', status);
    t.equal(reply.statusCode, 200, reply.body);
    const manifest = reply.json();
    t.same(manifest.output.map((o: { count: number; read: number; failed: number }) => [o.count, o.read, o.failed]),
      [[valid.length, N, BAD.size]], 'count = valid lines, read = all lines, failed = bad lines');
    t.equal(manifest.error[0].count, BAD.size);
    t.equal((await s.request('GET', 'Patient?_summary=count')).json().total, valid.length);
    const stored = await rows(s, (x) => sql`SELECT id FROM ${x}.resource ORDER BY id`);
    t.same(stored.map((r) => r.id), valid.map(idOf).sort(), 'exactly the valid lines\' resources');
    t.same(await rows(s, (x) => sql`SELECT count(*)::int AS versions, count(DISTINCT id)::int AS ids, max(version)::int AS latest
      FROM ${x}.resource_version`), [{ versions: valid.length, ids: valid.length, latest: 1 }], 'one version each: no batch written twice');

    const outcome = (await fetchLines(s, manifest.error[0].url)).map((l) => JSON.parse(l).issue[0].diagnostics as string);
    t.same(outcome.map((d) => Number(/\.ndjson line (\d+): /.exec(d)?.[1])), [...BAD.keys()], 'each bad line once, by number, in order');
  });
