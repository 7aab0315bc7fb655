/**
 * The right to erasure and history removal (issue #17 §3): Patient/$erase removes the patient's compartment for good
 * — every version, index row and the patient's sign-in account, nothing shared with other patients — leaves one
 * AuditEvent saying who, why and how much, answers 410 for erased ids, and resumes after a crash; $expunge removes one
 * resource's history. Checked on the real tables (PGlite, or PostgreSQL under DATABASE_URL).
 */
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import type { Job } from '../../src/jobs/queue.js';
import { getJob } from '../../src/jobs/queue.js';
import type { JobContext } from '../../src/jobs/worker.js';
import { eraseJob } from '../../src/operations/erase.js';
import { findTenant, schemaFor } from '../../src/storage/tenants.js';
import { ADMIN, addUser } from '../access/helpers.js';
import { runTenantJobs } from '../bulk/tenant-worker.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const schema = schemaFor(s.slug);
const S = ident(schema);
const ERASER = { authorization: `Bearer ${await s.token('system/*.cruds system/$erase')}` };
const NAME = 'Zebediah';

const ref = (r: string) => ({ reference: r });
const put = async (resource: Record<string, unknown>) => {
  const res = await s.request('PUT', `${resource.resourceType}/${resource.id}`, { body: resource });
  if (res.statusCode >= 300) throw new Error(`${resource.resourceType}/${resource.id}: ${res.body}`);
};
const obs = (id: string, patient: string, extra: Record<string, unknown> = {}) => ({ resourceType: 'Observation', id, status: 'final',
  code: { text: 'weight' }, subject: ref(`Patient/${patient}`), ...extra });
const erase = (id: string, parameter: Record<string, unknown>[], headers = ERASER) =>
  s.request('POST', `Patient/${id}/$erase`, { headers, body: { resourceType: 'Parameters', parameter } });
const reason = { name: 'reason', valueString: 'GDPR art. 17 request #4711' };
const parts = (res: { json(): unknown }, name: string) => ((res.json() as { parameter: { name: string; part?: { name: string; valueReference?: { reference: string } }[] }[] })
  .parameter.filter((p) => p.name === name).map((p) => p.part!.find((x) => x.name === 'resource')!.valueReference!.reference).sort());

await put({ resourceType: 'Patient', id: 'p1', name: [{ family: NAME, given: ['Erasmus'] }], birthDate: '1970-01-01' });
await put({ resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] });
await put({ resourceType: 'Patient', id: 'p3', name: [{ family: 'Sibling' }], link: [{ other: ref('Patient/p1'), type: 'seealso' }] });
await put(obs('o1', 'p1'));
await put(obs('o1', 'p1', { valueQuantity: { value: 80, unit: 'kg' }, note: [{ text: `${NAME} weighed after the fall` }] }));
await put(obs('o-deleted', 'p1'));
await s.request('DELETE', 'Observation/o-deleted');
await put(obs('o-moved', 'p1'));
await put(obs('o-moved', 'p2')); // once p1's, now p2's: in both compartments over its life
await put(obs('o-focus', 'p2', { focus: [ref('Patient/p1')] })); // names p1 outside the compartment's parameters
await put({ resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/p1') });
await put({ resourceType: 'Appointment', id: 'a-both', status: 'proposed', participant: [
  { actor: ref('Patient/p1'), status: 'accepted' }, { actor: ref('Patient/p2'), status: 'accepted' }] });
await addUser(s, 'zebediah@example.org', 'Patient/p1', null);

const ERASED = ['Encounter/e1', 'Observation/o-deleted', 'Observation/o1', 'Patient/p1'];

t.test('erasure needs its own scope beside one that deletes everything, and a reason', async (t) => {
  t.equal((await erase('p1', [reason], {} as typeof ERASER)).statusCode, 403, 'system/*.cruds alone');
  const only = { authorization: `Bearer ${await s.token('system/*.rs system/$erase')}` };
  t.equal((await erase('p1', [reason], only)).statusCode, 403, 'the erase scope without delete');
  const noReason = await erase('p1', []);
  t.equal(noReason.statusCode, 400);
  t.match(noReason.body, /reason/);
  t.equal((await erase('p1', [reason, { name: 'dryRun', valueString: 'maybe' }])).statusCode, 400);
  t.equal((await erase('nobody', [reason])).statusCode, 404);
  t.equal((await s.request('GET', `Patient/p1/$erase`, { headers: ERASER })).statusCode, 405);
});

t.test('a dry run lists what would go and what stays shared, and changes nothing', async (t) => {
  const res = await erase('p1', [reason, { name: 'dryRun', valueBoolean: true }]);
  t.equal(res.statusCode, 200, res.body);
  t.same(parts(res, 'erase'), ERASED, 'the patient, their records, deleted and superseded versions included; not p3 who links to them');
  t.same(parts(res, 'kept'), ['Appointment/a-both', 'Observation/o-moved'], 'in another patient\'s compartment too');
  const versions = (res.json() as { parameter: { name: string; valueInteger?: number }[] }).parameter.find((p) => p.name === 'versions')!.valueInteger;
  t.equal(versions, 6, 'p1 1, o1 2, o-deleted 2 (with its delete marker), e1 1');
  t.equal((await s.request('GET', 'Patient/p1')).statusCode, 200);
});

t.test('the erasure job removes the compartment for good and audits who, why and how much', async (t) => {
  const kicked = await erase('p1', [reason]);
  t.equal(kicked.statusCode, 202, kicked.body);
  const status = String(kicked.headers['content-location']);
  t.match(status, /\$job-status\?id=/);
  t.equal(await runTenantJobs(s.deps, s.slug, eraseJob, 'erase'), 1);
  const job = (await getJob(s.deps.db, s.slug, new URL(status).searchParams.get('id')!))!;
  t.equal(job.status, 'completed', job.error ?? '');
  t.match(job.result, { resources: 4, versions: 6, 'kept as shared': 2, 'sign-in accounts': 1 });

  for (const path of ERASED) t.equal((await s.request('GET', path)).statusCode, 410, `${path}: gone`);
  t.equal((await s.request('GET', 'Observation/o1')).body.includes(NAME), false, 'a 410 carries no content');
  t.equal((await s.request('GET', 'Observation/o1/_history/1')).statusCode, 404, 'no version is left to read');
  for (const path of ['Patient/p2', 'Patient/p3', 'Observation/o-moved', 'Observation/o-focus', 'Appointment/a-both']) {
    t.equal((await s.request('GET', path)).statusCode, 200, `${path}: not p1's alone, kept`);
  }
  const search = await s.request('GET', 'Observation?subject=Patient/p1');
  t.same((search.json() as { entry?: unknown[] }).entry ?? [], [], 'the index holds nothing of theirs');

  // No table of the tenant holds the patient's name any more; erased rows keep only their ids (tombstones).
  const tables = await s.deps.db.query<{ table_name: string }>(sql`SELECT table_name FROM information_schema.tables
    WHERE table_schema = ${schema} AND table_type = 'BASE TABLE'`);
  t.ok(tables.length > 20);
  for (const { table_name: table } of tables) {
    const [{ n }] = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.${ident(table)} x
      WHERE x::text LIKE ${`%${NAME}%`} OR x::text LIKE '%zebediah@example.org%'`);
    t.equal(n, 0, `${table}: nothing of the patient`);
  }
  const left = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.resource_version
    WHERE (type, id) IN (('Patient', 'p1'), ('Observation', 'o1'), ('Observation', 'o-deleted'), ('Encounter', 'e1'))`);
  t.equal(left[0]!.n, 0, 'no version left');

  const audit = await s.request('GET', 'AuditEvent?entity=Patient/p1&subtype=erasure', { headers: {
    authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } });
  const events = (audit.json() as { entry?: { resource: { entity: { what?: { reference?: string }; detail?: { type: string; valueString: string }[] }[] } }[] }).entry ?? [];
  t.equal(events.length, 1, `one erasure record: ${audit.body.slice(0, 300)}`);
  const details = events[0]!.resource.entity.find((e) => e.what?.reference === 'Patient/p1')!.detail!;
  t.same(Object.fromEntries(details.map((d) => [d.type, d.valueString])), { reason: reason.valueString, resources: '4', versions: '6',
    'index rows': details.find((d) => d.type === 'index rows')!.valueString, 'kept as shared': '2', 'export file sets': '0', 'sign-in accounts': '1' });

  t.equal((await erase('p1', [reason])).statusCode, 404, 'nothing left to erase');
  const again = await s.request('PUT', 'Patient/p1', { body: { resourceType: 'Patient', id: 'p1' } });
  t.equal(again.statusCode, 201, `the id may be written again: ${again.body}`);
});

t.test('an erasure stopped half-way resumes and ends with everything gone exactly once', async (t) => {
  await put({ resourceType: 'Patient', id: 'many', name: [{ family: NAME }] });
  const entry = Array.from({ length: 70 }, (_, i) => ({ resource: obs(`m${i}`, 'many'), request: { method: 'PUT', url: `Observation/m${i}` } }));
  t.equal((await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry } })).statusCode, 200);
  t.equal((await erase('many', [reason])).statusCode, 202);
  const [{ id }] = await s.deps.db.query<{ id: string }>(sql`SELECT id FROM hearth.job WHERE tenant = ${s.slug} AND kind = 'erase'
    AND status = 'queued'`);
  const job = (await getJob(s.deps.db, s.slug, id!))!;
  const tenant = (await findTenant(s.deps.db, s.slug))!;
  let saved: Job['progress'] = {};
  let calls = 0;
  const crashing: JobContext = { deps: s.deps, job, tenant, progress: async (p) => {
    if (++calls === 2) throw new Error('killed');
    saved = p;
  } };
  await t.rejects(eraseJob(crashing as never), /killed/);
  t.equal(saved.done, 50, 'the first batch committed with its progress');
  const [{ n: half }] = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.resource_version WHERE type = 'Observation' AND id LIKE 'm%'`);
  t.equal(half, 20, 'the second batch rolled back');
  const resumed: JobContext = { deps: s.deps, job: { ...job, progress: saved }, tenant, progress: async (p) => { saved = p; } };
  const result = await eraseJob(resumed as never) as { resources: number; versions: number };
  t.equal(result.resources, 71, 'every resource counted once across both runs');
  t.equal(result.versions, 71);
  const [{ n }] = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.resource_version
    WHERE id LIKE 'm%' OR (type = 'Patient' AND id = 'many')`);
  t.equal(n, 0);
  t.equal((await s.request('GET', 'Observation/m69')).statusCode, 410);
});

t.test('$expunge keeps a live resource\'s current version only, and removes a deleted one altogether', async (t) => {
  await put({ resourceType: 'Patient', id: 'x1', active: true });
  await put({ resourceType: 'Patient', id: 'x1', active: false });
  await put({ resourceType: 'Patient', id: 'x1', active: true, gender: 'other' });
  const plain = await s.request('POST', 'Patient/x1/$expunge');
  t.equal(plain.statusCode, 403, 'needs the erase scope');
  const res = await s.request('POST', 'Patient/x1/$expunge', { headers: ERASER });
  t.equal(res.statusCode, 200, res.body);
  t.same((res.json() as { parameter: unknown[] }).parameter, [{ name: 'versions', valueInteger: 2 }, { name: 'removed', valueBoolean: false }]);
  const history = (await s.request('GET', 'Patient/x1/_history')).json() as { entry: { resource: { meta: { versionId: string } } }[] };
  t.same(history.entry.map((e) => e.resource.meta.versionId), ['3']);
  t.equal((await s.request('GET', 'Patient/x1')).json().gender, 'other');

  await s.request('DELETE', 'Patient/x1');
  const gone = await s.request('POST', 'Patient/x1/$expunge', { headers: ERASER });
  t.same((gone.json() as { parameter: unknown[] }).parameter, [{ name: 'versions', valueInteger: 2 }, { name: 'removed', valueBoolean: true }]);
  t.equal((await s.request('GET', 'Patient/x1')).statusCode, 404, 'as if never written');
  t.equal((await s.request('POST', 'Patient/x1/$expunge', { headers: ERASER })).statusCode, 404);
  const audit = await s.request('POST', `AuditEvent/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}/$expunge`, { headers: ERASER });
  t.equal(audit.statusCode, 404, 'AuditEvents are append-only: not an operation on them');
  t.match(audit.body, /not supported on AuditEvent/);
});

t.test('a role lists user/$erase for its holders; other made-up scopes are still refused', async (t) => {
  const ok = await s.request('PUT', `/admin/tenants/${s.slug}/roles/privacy-officer`, { headers: ADMIN,
    body: { scopes: 'user/*.cruds user/$erase', description: 'Data protection officer' } });
  t.equal(ok.statusCode, 200, ok.body);
  const bad = await s.request('PUT', `/admin/tenants/${s.slug}/roles/nonsense`, { headers: ADMIN, body: { scopes: 'user/$delete-all' } });
  t.equal(bad.statusCode, 422);
});
