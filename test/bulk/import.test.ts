/** Bulk `$import` (issue #14 §3): kick-off, NDJSON inputs by file URL, per-line outcomes, resume, audit, CLI-free paths. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { createImportJob } from '../../src/bulk/import-job.js';
import { ident, sql } from '../../src/db/sql.js';
import { getJob } from '../../src/jobs/queue.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { bearer, localPath, startBulkServer } from './helpers.js';
import { runTenantJobs } from './tenant-worker.js';
import type { TestServer } from '../helpers/server.js';

const importDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-import-test-'));
t.teardown(() => fs.rmSync(importDir, { recursive: true, force: true }));

const patient = (id: string, family: string) => JSON.stringify({ resourceType: 'Patient', id, name: [{ family }] });
const observation = (id: string, patientId: string) => JSON.stringify({ resourceType: 'Observation', id, status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${patientId}` } });

function input(name: string, lines: string[]): string {
  const file = path.join(importDir, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return pathToFileURL(file).href;
}

const manifest = (inputs: { type?: string; url: string }[], extra: Record<string, unknown>[] = []) => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'inputFormat', valueCode: 'application/fhir+ndjson' }, ...extra,
    ...inputs.map((i) => ({ name: 'input', part: [...(i.type ? [{ name: 'type', valueCode: i.type }] : []), { name: 'url', valueUrl: i.url }] }))],
});

async function kickoff(s: TestServer, body: unknown, headers: Record<string, string> = {}) {
  return s.request('POST', '$import', { body, headers: { prefer: 'respond-async', ...headers } });
}

const count = async (s: TestServer, type: string) =>
  (await s.request('GET', `${type}?_summary=count`)).json().total as number;

t.test('an NDJSON import: valid lines are stored and searchable, bad lines are reported by line number', async (t) => {
  const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: importDir });
  const patients = input('patients.ndjson', [patient('imp-1', 'Alpha'), '{not json', patient('imp-2', 'Beta'),
    JSON.stringify({ resourceType: 'Patient', id: 'imp-3', gender: 'no-such-code', birthDate: 'yesterday' }),
    '', JSON.stringify({ resourceType: 'Observation', id: 'wrong-type', status: 'final', code: { text: 'x' } }), patient('imp-4', 'Gamma')]);
  const observations = input('observations.ndjson', [observation('obs-1', 'imp-1'), observation('obs-2', 'imp-2')]);
  const res = await kickoff(s, manifest([{ type: 'Patient', url: patients }, { type: 'Observation', url: observations }]));
  t.equal(res.statusCode, 202, res.body);
  const status = localPath(res.headers['content-location'] as string);
  t.match(status, /\/_bulk\//);
  t.equal((await s.request('GET', status.replace(s.base + '/', ''))).statusCode, 202, 'queued before the worker runs');
  t.equal(await runTenantJobs(s.deps, s.slug, createImportJob(), 'import'), 1);
  const done = await s.app.inject({ method: 'GET', url: status, headers: bearer(await s.token('system/*.cruds')) });
  t.equal(done.statusCode, 200, done.body);
  const body = done.json();
  t.same(body.output.map((o: { count: number; failed: number; read: number }) => [o.count, o.failed, o.read]), [[3, 3, 6], [2, 0, 2]]);
  t.equal(body.error[0].count, 3);
  t.equal(await count(s, 'Patient'), 3, 'three patients imported');
  t.equal((await s.request('GET', 'Patient/imp-2')).json().name[0].family, 'Beta', 'client ids kept');
  t.equal((await s.request('GET', 'Observation?subject=Patient/imp-1')).json().total ?? (await s.request('GET', 'Observation?subject=Patient/imp-1')).json().entry.length, 1,
    'index rows written: a reference search finds the imported Observation');
  const outcome = await s.app.inject({ method: 'GET', url: localPath(body.error[0].url), headers: bearer(await s.token('system/*.cruds')) });
  t.equal(outcome.statusCode, 200);
  const lines = outcome.body.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 3);
  t.match(lines[0].issue[0].diagnostics, /line 2: The line is not valid JSON/);
  t.match(lines[1].issue[0].diagnostics, /line 4:/);
  t.match(lines[2].issue[0].diagnostics, /line 6: The line is a Observation; the input declares Patient/);
  const schema = ident(schemaFor(s.slug));
  const events = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${schema}.audit_event
    WHERE subtype @> ARRAY['http://hearth.dev/fhir/CodeSystem/audit-subtype|$import'] AND action = 'C'`);
  t.equal(events[0]!.n, 2, 'one AuditEvent per input file, not one per resource');
});

t.test('imported references may name later lines and files; those left dangling at the end are reported (issue #15 §2)', async (t) => {
  const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: importDir });
  const observations = input('ri-observations.ndjson', [observation('ri-o1', 'ri-p1'), observation('ri-o2', 'nobody')]);
  const patients = input('ri-patients.ndjson', [patient('ri-p1', 'Later')]);
  const res = await kickoff(s, manifest([{ type: 'Observation', url: observations }, { type: 'Patient', url: patients }]));
  t.equal(res.statusCode, 202);
  t.equal(await runTenantJobs(s.deps, s.slug, createImportJob({ batch: 1 }), 'import'), 1);
  t.equal((await s.request('GET', 'Observation/ri-o1')).statusCode, 200, 'a line naming a later file');
  t.equal((await s.request('GET', 'Observation/ri-o2')).statusCode, 200, 'a resource whose reference dangles is imported all the same');
  const auth = bearer(await s.token('system/*.cruds'));
  const done = (await s.app.inject({ method: 'GET', url: localPath(res.headers['content-location'] as string), headers: auth })).json();
  t.equal(done.error?.[0]?.count, 1, 'one error: the reference to nothing');
  const outcome = await s.app.inject({ method: 'GET', url: localPath(done.error[0].url), headers: auth });
  const lines = outcome.body.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(lines.length, 1);
  t.same(lines[0].issue[0].expression, ['Observation.subject']);
  t.match(lines[0].issue[0].diagnostics, /Observation\/ri-o2: Observation\.subject refers to Patient\/nobody/);
});

t.test('an import updates existing resources (PUT semantics) and a repeated id becomes a later version', async (t) => {
  const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: importDir });
  t.equal((await s.request('PUT', 'Patient/up-1', { body: JSON.parse(patient('up-1', 'Before')) })).statusCode, 201);
  const url = input('updates.ndjson', [patient('up-1', 'After'), patient('up-2', 'First'), patient('up-2', 'Second')]);
  t.equal((await kickoff(s, manifest([{ type: 'Patient', url }]))).statusCode, 202);
  await runTenantJobs(s.deps, s.slug, createImportJob(), 'import');
  const one = (await s.request('GET', 'Patient/up-1')).json();
  t.equal(one.name[0].family, 'After');
  t.equal(one.meta.versionId, '2');
  const two = (await s.request('GET', 'Patient/up-2')).json();
  t.equal(two.name[0].family, 'Second');
  t.equal(two.meta.versionId, '2');
  t.equal((await s.request('GET', 'Patient?family=First')).json().entry, undefined, 'the first version is no longer indexed');
});

t.test('a job stopped after a batch resumes from its checkpoint and the final counts equal the input', async (t) => {
  const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: importDir });
  const lines = Array.from({ length: 23 }, (_, i) => (i === 7 ? '[1,2]' : patient(`res-${i}`, `Family${i}`)));
  const url = input('resume.ndjson', lines);
  const res = await kickoff(s, manifest([{ type: 'Patient', url }]));
  const jobId = (res.headers['content-location'] as string).split('/').pop()!;
  let batches = 0;
  const interrupted = createImportJob({ batch: 5 });
  // The first run stops (as a crash would) after its second committed batch: inside the third batch's transaction,
  // where its checkpoint would be recorded, so that batch rolls back with it.
  const stopping: typeof interrupted = async (ctx) => interrupted({ ...ctx, progress: async (p, tx) => {
    if (++batches === 3) throw new Error('simulated crash');
    await ctx.progress(p, tx);
  } });
  await runTenantJobs(s.deps, s.slug, stopping, 'import');
  const failed = await getJob(s.deps.db, s.slug, jobId);
  t.equal(failed?.status, 'failed');
  t.equal(await count(s, 'Patient'), 10, 'two batches of five committed before the crash');
  // requeue as a lapsed lease would
  await s.deps.db.query(sql`UPDATE hearth.job SET status = 'queued', error = NULL WHERE id = ${jobId}::uuid`);
  await runTenantJobs(s.deps, s.slug, createImportJob({ batch: 5 }), 'import');
  const job = await getJob(s.deps.db, s.slug, jobId);
  t.equal(job?.status, 'completed');
  const result = job?.result as { inputs: { read: number; imported: number; failed: number }[]; errors: number };
  t.same(result.inputs[0], { type: 'Patient', url, read: 23, imported: 22, failed: 1 });
  t.equal(await count(s, 'Patient'), 22);
  const versions = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schemaFor(s.slug))}.resource_version`);
  t.equal(versions[0]!.n, 22, 'no batch was written twice');
});

t.test('strict imports stop at the first bad line', async (t) => {
  const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: importDir });
  const url = input('strict.ndjson', [patient('st-1', 'A'), 'nope', patient('st-2', 'B')]);
  await kickoff(s, manifest([{ type: 'Patient', url }], [{ name: 'strict', valueBoolean: true }]));
  await runTenantJobs(s.deps, s.slug, createImportJob(), 'import');
  t.equal(await count(s, 'Patient'), 1, 'the line before is kept, the one after is not read');
});

t.test('bad kick-offs are refused with an OperationOutcome', async (t) => {
  const s = await startBulkServer(t, { HEARTH_IMPORT_DIR: importDir });
  const outside = pathToFileURL(path.join(os.tmpdir(), 'elsewhere.ndjson')).href;
  const cases: [string, unknown, RegExp][] = [
    ['no body', undefined, /Parameters/],
    ['no input', manifest([]), /at least one input/],
    ['outside the import directory', manifest([{ url: outside }]), /outside the import directory/],
    ['traversal', manifest([{ url: `${pathToFileURL(importDir).href}/../../etc/passwd` }]), /outside the import directory/],
    ['http not allowed', manifest([{ url: 'http://169.254.169.254/latest/meta-data' }]), /allowed URL prefix/],
    ['unknown type', manifest([{ type: 'Nope', url: input('x.ndjson', []) }]), /not a resource type/],
    ['unknown parameter', { resourceType: 'Parameters', parameter: [{ name: 'bogus', valueString: 'x' }] }, /no parameter 'bogus'/],
    ['wrong format', manifest([{ url: input('y.ndjson', []) }], [{ name: 'inputFormat', valueCode: 'text/csv' }]), /ndjson only/],
  ];
  for (const [label, body, message] of cases) {
    const res = await kickoff(s, body);
    t.equal(res.statusCode, 400, label);
    t.match(res.json().issue[0].diagnostics, message, label);
  }
  const narrow = await kickoff(s, manifest([{ url: input('z.ndjson', []) }]), bearer(await s.token('system/Patient.cu')));
  t.equal(narrow.statusCode, 403, 'a token without system/*.cu may not import');
});
