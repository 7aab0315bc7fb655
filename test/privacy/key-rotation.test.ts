/**
 * Key rotation and conversion (issue #17 §1–§2): a rotation makes the tenant's next data key version and a job
 * re-encrypts every row under it, reads working throughout; a tenant in clear is converted the same way; a job killed
 * mid-batch (PostgreSQL) resumes and ends with every row readable once under the new key; the older versions are
 * destroyed once no row needs them.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CONTROL_SCHEMA } from '../../src/db/migrate.js';
import { ident, sql } from '../../src/db/sql.js';
import { sealedColumns } from '../../src/db/vault.js';
import { getJob } from '../../src/jobs/queue.js';
import { JOB_HANDLERS } from '../../src/operations/jobs.js';
import { findTenant, schemaFor } from '../../src/storage/tenants.js';
import { rotateKey } from '../../src/jobs/rekey.js';
import { runTenantJobs } from '../bulk/tenant-worker.js';
import { exportFiles, jobOf, localPath, runExport } from '../bulk/helpers.js';
import { exportStore } from '../../src/bulk/store.js';
import { type TestServer, startServer, usingPostgres } from '../helpers/server.js';

const rekey = JOB_HANDLERS.rekey!;
const ADMIN = { authorization: 'Bearer test-admin-token-0123456789' };
const s = await startServer(t);

const load = async (slug: string, n: number) => {
  const entry = Array.from({ length: n }, (_, i) => ({ request: { method: 'PUT', url: `Observation/r${i}` },
    resource: { resourceType: 'Observation', id: `r${i}`, status: 'final', code: { text: `rotation ${i}` },
      subject: { reference: 'Patient/rp' } } }));
  entry.unshift({ request: { method: 'PUT', url: 'Patient/rp' },
    resource: { resourceType: 'Patient', id: 'rp', name: [{ family: 'Rotata' }] } as never });
  const res = await s.request('POST', `/fhir/${slug}`, { body: { resourceType: 'Bundle', type: 'transaction', entry } });
  if (res.statusCode !== 200) throw new Error(res.body);
};

/** Rows per (table, key version of the body; 0: in clear). */
async function keyVersions(slug: string): Promise<Record<string, number>> {
  const S = ident(schemaFor(slug));
  const rows = await s.deps.db.query<{ k: string; n: number }>(sql`SELECT t || ':' || v AS k, count(*)::int AS n FROM (
      SELECT 'resource' AS t, CASE WHEN sealed IS NULL THEN 0 ELSE get_byte(sealed, 4) END AS v FROM ${S}.resource WHERE content IS NOT NULL OR sealed IS NOT NULL
      UNION ALL SELECT 'resource_version', CASE WHEN sealed IS NULL THEN 0 ELSE get_byte(sealed, 4) END FROM ${S}.resource_version
        WHERE content IS NOT NULL OR sealed IS NOT NULL) x GROUP BY 1 ORDER BY 1`);
  return Object.fromEntries(rows.map((r) => [r.k, r.n]));
}

const rotate = async (slug: string) => {
  const res = await s.request('POST', `/admin/tenants/${slug}/keys/rotate`, { headers: ADMIN });
  if (res.statusCode !== 202) throw new Error(res.body);
  return res.json() as { version: number; job: { id: string; status: string } };
};
/** Every row of both tables opened (the database layer throws on one that does not), and one search page. */
const readAll = async (srv: TestServer, slug: string, n: number) => {
  const schema = schemaFor(slug);
  let opened = 0;
  for (const table of ['resource', 'resource_version']) {
    const rows = await srv.deps.db.query<{ content: { resourceType?: string } | null }>(sql`SELECT type, id, version,
      ${sealedColumns(schema)} FROM ${ident(schema)}.${ident(table)}`);
    opened += rows.filter((r) => r.content?.resourceType).length;
  }
  const page = await srv.request('GET', `/fhir/${slug}/Observation?subject=Patient/rp&_count=50`);
  return opened >= 2 * (n + 1) && page.statusCode === 200 && page.json().entry?.length === Math.min(n, 50);
};

t.test('a rotation re-encrypts every row under the new version, reads working throughout', async (t) => {
  const slug = await s.newTenant();
  await load(slug, 30);
  t.same(await keyVersions(slug), { 'resource:1': 31, 'resource_version:1': 31 });
  const { version, job } = await rotate(slug);
  t.equal(version, 2);
  t.equal(job.status, 'queued');
  // Before the job: old rows open with version 1, new writes go under version 2.
  t.ok(await readAll(s, slug, 30), 'every row reads before the job');
  await s.request('PUT', `/fhir/${slug}/Patient/rp`, { body: { resourceType: 'Patient', id: 'rp', name: [{ family: 'Rotata' }], gender: 'other' } });
  const mid = await keyVersions(slug);
  t.equal(mid['resource_version:2'], 1, 'a write after the rotation is under the new version');
  t.equal(await runTenantJobs(s.deps, slug, rekey, 'rekey'), 1);
  const done = (await getJob(s.deps.db, slug, job.id))!;
  t.equal(done.status, 'completed', done.error ?? '');
  t.match(done.result, { rekeyed: 61, retired: 0, version: 2 }, 'each row once; version 1 kept for the AuditEvents sealed with it');
  t.same(await keyVersions(slug), { 'resource:2': 31, 'resource_version:2': 32 });
  t.ok(await readAll(s, slug, 30), 'every row reads after it');
  t.equal((await s.request('GET', `/fhir/${slug}/Patient/rp/_history/1`)).json().name[0].family, 'Rotata');
  const view = (await s.request('GET', `/admin/tenants/${slug}/keys`, { headers: ADMIN })).json();
  t.match(view, { encrypted: true, activeVersion: 2, rowsNotUnderActive: 0, versions: [{ version: 1 }, { version: 2 }],
    lastRotation: { status: 'completed' } });
  const audit = await s.request('GET', `/fhir/${slug}/AuditEvent?subtype=110129`, {
    headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs', { slug })}` } });
  t.ok(audit.json().entry?.length >= 1, 'the rotation is audited');
});

t.test('AuditEvents sealed before a rotation still read after its job ends (their key version was destroyed)', async (t) => {
  const slug = await s.newTenant();
  await load(slug, 3);
  const before = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schemaFor(slug))}.audit_event
    WHERE get_byte(sealed, 4) = 1`);
  t.ok(before[0]!.n >= 1, 'the load was audited under version 1');
  await rotate(slug);
  t.equal(await runTenantJobs(s.deps, slug, rekey, 'rekey'), 1);
  const all = await s.request('GET', `/fhir/${slug}/AuditEvent?_count=500`, {
    headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs', { slug })}` } });
  t.equal(all.statusCode, 200, all.body.slice(0, 300));
  t.ok(all.json().entry.length >= before[0]!.n, 'every AuditEvent opens, the old ones with the version kept for them');
});

t.test('export files are resealed under the new version: same text, old version not in any file', async (t) => {
  const slug = await s.newTenant();
  await load(slug, 4);
  const srv = { ...s, slug, exportDir: s.deps.config.exportDir };
  const done = await runExport(srv, `/fhir/${slug}/$export`);
  const job = jobOf(done.status);
  const store = exportStore(s.deps);
  const names = await store.names(slug, job);
  t.ok(names.length >= 2, names.join());
  const text = await exportFiles(srv, job);
  for (const name of names) {
    const raw = fs.readFileSync(path.join(s.deps.config.exportDir, slug, job, name));
    t.ok(raw.subarray(0, 16).equals(Buffer.from('HEARTH-SEALED-1\n')), `${name} is sealed on disk`);
    t.notOk(raw.includes('Rotata') || raw.includes('Observation'), `${name}: no clear text on disk`);
    t.same(await store.keyVersions(slug, job, name), [1]);
  }
  const { job: rekeyJob } = await rotate(slug);
  t.equal(await runTenantJobs(s.deps, slug, rekey, 'rekey'), 1);
  const result = (await getJob(s.deps.db, slug, rekeyJob.id))!.result as { files: number };
  t.equal(result.files, names.length, 'each file resealed once');
  for (const name of names) t.same(await store.keyVersions(slug, job, name), [2], `${name} under version 2`);
  t.same(await exportFiles(srv, job), text, 'the same text');
  const again = await s.request('GET', localPath(done.manifest.output[0]!.url), {
    headers: { authorization: `Bearer ${await s.token('system/*.rs', { slug })}`, range: 'bytes=5-40' } });
  t.equal(again.statusCode, 206);
  t.equal(again.body, text.get(path.basename(done.manifest.output[0]!.url))!.subarray(5, 41).toString('utf8'), 'ranges read the resealed file');
});

t.test('a tenant in clear is converted by the same job', async (t) => {
  const slug = await s.newTenant();
  await s.deps.db.keyring.destroyKeys(s.deps.db, schemaFor(slug)); // as made with HEARTH_ENCRYPTION=off
  await load(slug, 10);
  t.same(await keyVersions(slug), { 'resource:0': 11, 'resource_version:0': 11 });
  const { version } = await rotate(slug);
  t.equal(version, 1);
  t.equal(await runTenantJobs(s.deps, slug, rekey, 'rekey'), 1);
  t.same(await keyVersions(slug), { 'resource:1': 11, 'resource_version:1': 11 }, 'nothing left in clear');
  t.ok(await readAll(s, slug, 10));
  const words = await s.request('GET', `/fhir/${slug}/Patient?_content=Rotata`);
  t.equal(words.json().entry?.length, 1, 'full-text search keeps working (its words were written by the job)');
});

t.test('two rotations in a row: every row ends under the newest version, and both jobs end', async (t) => {
  const slug = await s.newTenant();
  await load(slug, 5);
  const first = await rotate(slug);
  const second = await rotate(slug);
  t.same([first.version, second.version], [2, 3]);
  t.equal(await runTenantJobs(s.deps, slug, rekey, 'rekey'), 2);
  t.equal((await getJob(s.deps.db, slug, first.job.id))!.status, 'completed');
  t.equal((await getJob(s.deps.db, slug, second.job.id))!.status, 'completed');
  t.same(await keyVersions(slug), { 'resource:3': 6, 'resource_version:3': 6 });
  t.ok(await readAll(s, slug, 5));
});

t.test('SIGKILL mid-batch during a rotation, then a restart: every row once under the new key', {
  skip: usingPostgres() ? false : 'needs PostgreSQL: a PGlite database lives inside the killed process' }, async (t) => {
  const slug = await s.newTenant();
  await load(slug, 1200); // 1,201 current rows: three batches of 500, the kill lands in the second
  const { job } = await rotate(slug);
  const child = fork(path.join(import.meta.dirname, 'hanging-worker-node.ts'), [], {
    execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, WORKER_TENANT: slug, WORKER_KIND: 'rekey', HEARTH_LOG_LEVEL: 'silent' },
  });
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => void getJob(s.deps.db, slug, job.id).then((j) =>
      reject(new Error(`the worker process never reached its second batch: job ${j?.status} ${j?.error ?? ''}`))), 60_000);
    child.once('message', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker process exited (${code}) first`)); });
  });
  process.kill(child.pid!, 'SIGKILL');
  await exited;
  const killed = (await getJob(s.deps.db, slug, job.id))!;
  t.equal(killed.progress.done, 500, 'the first batch committed with its progress');
  t.same(await keyVersions(slug), { 'resource:1': 701, 'resource:2': 500, 'resource_version:1': 1201 }, 'the killed batch rolled back whole');
  t.ok(await readAll(s, slug, 1200), 'every row reads, under either version');
  await s.deps.db.query(sql`UPDATE hearth.job SET lease_until = now() - interval '1 second' WHERE status = 'running' AND tenant = ${slug}`);
  t.equal(await runTenantJobs(s.deps, slug, rekey, 'rekey'), 1, 'another worker takes the job over');
  const done = (await getJob(s.deps.db, slug, job.id))!;
  t.equal(done.status, 'completed', done.error ?? '');
  t.match(done.result, { rekeyed: 2402 }, 'each row counted once');
  t.same(await keyVersions(slug), { 'resource:2': 1201, 'resource_version:2': 1201 });
  t.ok(await readAll(s, slug, 1200));
  const keys = await s.deps.db.query<{ version: number }>(sql`SELECT version FROM ${ident(CONTROL_SCHEMA)}.tenant_key
    WHERE schema_name = ${schemaFor(slug)}`);
  t.same(keys.map((k) => k.version), [1, 2], 'version 1 stays for the AuditEvents of the load');
});

t.test('a version nothing needs any more is destroyed by the job', async (t) => {
  const slug = await s.newTenant();
  const schema = schemaFor(slug);
  await s.deps.db.keyring.destroyKeys(s.deps.db, schema); // in clear: the load and its AuditEvents are not sealed
  await load(slug, 3);
  const tenant = (await findTenant(s.deps.db, slug))!;
  await rotateKey(s.deps.db, tenant); // version 1, then at once version 2: nothing is ever sealed under 1
  await rotateKey(s.deps.db, tenant);
  t.equal(await runTenantJobs(s.deps, slug, rekey, 'rekey'), 2);
  const keys = await s.deps.db.query<{ version: number }>(sql`SELECT version FROM ${ident(CONTROL_SCHEMA)}.tenant_key
    WHERE schema_name = ${schema}`);
  t.same(keys.map((k) => k.version), [2], 'version 1 destroyed');
  t.same(await keyVersions(slug), { 'resource:2': 4, 'resource_version:2': 4 });
  t.ok(await readAll(s, slug, 3));
});
