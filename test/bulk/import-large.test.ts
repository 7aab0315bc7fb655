/**
 * A 2 GB input (issue #14, "Bad input and faults"): one line of 2 GiB — a sparse file, so the test writes almost
 * nothing — then valid lines. The long line is refused by its number as it streams, the lines after it are imported,
 * and the process's memory does not grow by anything like the line's size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { createImportJob } from '../../src/bulk/import-job.js';
import { bearer, localPath, startBulkServer } from './helpers.js';
import { runTenantJobs } from './tenant-worker.js';

const GIB = 1024 ** 3;
const MB = 1024 ** 2;

t.test('a 2 GiB line is refused as it streams; the lines after it are imported; memory stays flat', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-import-large-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'large.ndjson');
  const fd = fs.openSync(file, 'w');
  const head = `${JSON.stringify({ resourceType: 'Patient', id: 'before', name: [{ family: 'Before' }] })}\n`;
  fs.writeSync(fd, head);
  const tail = ['after-1', 'after-2'].map((id) => JSON.stringify({ resourceType: 'Patient', id })).join('\n');
  // Line 2: 2 GiB of zero bytes (a hole in the file, so nothing is written), ended by a newline.
  fs.writeSync(fd, `\n${tail}\n`, head.length + 2 * GIB);
  fs.closeSync(fd);
  t.ok(fs.statSync(file).size > 2 * GIB);

  const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: dir });
  const kick = await s.request('POST', '$import', { headers: { prefer: 'respond-async' }, body: { resourceType: 'Parameters', parameter: [
    { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
    { name: 'input', part: [{ name: 'type', valueCode: 'Patient' }, { name: 'url', valueUrl: pathToFileURL(file).href }] }] } });
  t.equal(kick.statusCode, 202, kick.body);

  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  t.equal(await runTenantJobs(s.deps, s.slug, createImportJob(), 'import'), 1);
  clearInterval(sampler);
  t.ok(peak - before < 256 * MB, `RSS grew by ${Math.round((peak - before) / MB)} MB while reading a 2 GiB line`);

  const status = localPath(kick.headers['content-location'] as string);
  const done = await s.app.inject({ method: 'GET', url: status, headers: bearer(await s.token('system/*.cruds')) });
  t.equal(done.statusCode, 200, done.body);
  const manifest = done.json();
  t.same(manifest.output.map((o: { count: number; failed: number; read: number }) => [o.count, o.failed, o.read]), [[3, 1, 4]]);
  const outcome = await s.app.inject({ method: 'GET', url: localPath(manifest.error[0].url), headers: bearer(await s.token('system/*.cruds')) });
  const lines = outcome.body.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 1);
  t.match(lines[0].issue[0].diagnostics, /line 2: /, 'the long line is named by its number');
  t.equal((await s.request('GET', 'Patient/after-2')).statusCode, 200, 'the lines after it are imported');
});
