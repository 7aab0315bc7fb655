/** Export files expire (bulk-data.md §5.5, §5.7): the status URL answers 404 after the TTL and the sweep deletes the files. */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startExportExpiry, sweepExports } from '../../src/bulk/expiry.js';
import { sql } from '../../src/db/sql.js';
import { jobOf, localPath, runExport, startBulkServer } from './helpers.js';

t.test('expired exports answer 404 and the sweep deletes their files, orphans too, and nothing live', async (t) => {
  const s = await startBulkServer(t, { HEARTH_EXPORT_TTL: '1h' });
  await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } });
  const done = await runExport(s, '$export');
  const jobDir = path.join(s.exportDir, s.slug, jobOf(done.status));
  const again = await s.request('GET', '$export?_type=Patient');
  t.equal(again.statusCode, 202, 'a completed export does not count against the per-client limit');
  t.equal((await s.request('DELETE', localPath(String(again.headers['content-location'])))).statusCode, 202);
  const orphan = path.join(s.exportDir, s.slug, '00000000-0000-4000-8000-000000000000');
  fs.mkdirSync(orphan, { recursive: true });
  fs.writeFileSync(path.join(orphan, 'Patient-1.ndjson'), '{}\n');

  await sweepExports(s.deps);
  t.ok(fs.existsSync(jobDir), 'a live export keeps its files');
  t.notOk(fs.existsSync(orphan), 'files of no known job are deleted');
  // An hour later (the job's end moved back rather than waiting).
  await s.deps.db.query(sql`UPDATE hearth.job SET finished_at = finished_at - interval '61 minutes' WHERE id = ${jobOf(done.status)}`);
  t.equal((await s.request('GET', localPath(done.status))).statusCode, 404, 'expired → 404');
  t.equal((await s.request('GET', localPath(done.manifest.output[0]!.url))).statusCode, 404);
  t.equal(await sweepExports(s.deps) >= 1, true);
  t.notOk(fs.existsSync(jobDir), 'the sweep deleted the expired files');
  const stop = startExportExpiry(s.deps);
  await stop();
});
