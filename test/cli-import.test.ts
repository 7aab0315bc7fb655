/** `hearth import <tenant> <files or folder>` (issue #14 §3): NDJSON and Bundle files loaded in the command's process. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { freePort, runCli } from './helpers/cli.js';
import { copyPgliteTemplate } from './helpers/pglite-template.js';
import { openDb } from '../src/db/open.js';
import { ident, sql } from '../src/db/sql.js';
import { schemaFor } from '../src/storage/tenants.js';

t.setTimeout(10 * 60 * 1000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cli-import-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

t.test('a folder of NDJSON and a transaction Bundle: valid lines stored, bad ones counted, exit 1', async (t) => {
  const dataDir = process.env.DATABASE_URL ? path.join(work, 'data') : await copyPgliteTemplate('cli-import');
  t.teardown(() => { if (!process.env.DATABASE_URL) fs.rmSync(dataDir, { recursive: true, force: true }); });
  const env = { ...(process.env.DATABASE_URL ? {} : { DATABASE_URL: '' }), HEARTH_DATA_DIR: dataDir, HEARTH_LOG_LEVEL: 'silent',
    HEARTH_ADMIN_URL: `http://127.0.0.1:${await freePort()}`, HEARTH_ADMIN_TOKEN: '' };
  const slug = `cli-i-${crypto.randomBytes(3).toString('hex')}`;
  t.equal((await runCli(['tenant', 'create', slug], env)).status, 0);
  const folder = path.join(work, 'in');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'patients.ndjson'), [
    JSON.stringify({ resourceType: 'Patient', id: 'cli-1', name: [{ family: 'One' }] }),
    '{"resourceType":"Patient","id":',
    JSON.stringify({ resourceType: 'Patient', id: 'cli-2', name: [{ family: 'Two' }] }),
  ].join('\n'));
  fs.writeFileSync(path.join(folder, 'bundle.json'), JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: 'urn:uuid:6d1c3a52-1c1e-4b4e-9d43-8a3c0f0e3b11', resource: { resourceType: 'Patient', name: [{ family: 'Bundled' }] },
      request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Observation', status: 'final', code: { text: 'weight' },
      subject: { reference: 'urn:uuid:6d1c3a52-1c1e-4b4e-9d43-8a3c0f0e3b11' } }, request: { method: 'POST', url: 'Observation' } },
  ] }));
  fs.writeFileSync(path.join(folder, 'notes.txt'), 'not imported');
  const res = await runCli(['import', slug, folder], env);
  t.equal(res.status, 1, 'a refused line makes the exit status 1');
  t.match(res.stdout, /patients\.ndjson\timported 2\tfailed 1/);
  t.match(res.stdout, /bundle\.json\timported 2\tfailed 0/);
  t.notMatch(res.stdout, /notes\.txt/, 'only .ndjson and .json files of a folder');
  const db = await openDb({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir: process.env.DATABASE_URL ? undefined : dataDir });
  try {
    const rows = await db.query<{ type: string; id: string }>(sql`SELECT type, id FROM ${ident(schemaFor(slug))}.resource ORDER BY type, id`);
    t.equal(rows.length, 4);
    t.same(rows.filter((r) => r.id.startsWith('cli-')).map((r) => r.id), ['cli-1', 'cli-2'], 'NDJSON ids kept');
    const [{ n }] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schemaFor(slug))}.idx_reference r
      JOIN ${ident(schemaFor(slug))}.resource p ON p.type = 'Patient' AND p.id = r.ref_id
      WHERE r.type = 'Observation' AND r.param = 'subject'`) as [{ n: number }];
    t.equal(n, 1, 'the Bundle\'s urn:uuid reference was rewritten and indexed');
    const events = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schemaFor(slug))}.audit_event
      WHERE subtype @> ARRAY['http://hearth.dev/fhir/CodeSystem/audit-subtype|$import']`);
    t.equal(events[0]!.n, 2, 'one AuditEvent per file');
  } finally {
    await db.close();
  }
  const missing = await runCli(['import', slug, path.join(work, 'nope.ndjson')], env);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /does not exist/);
});
