import t from 'tap';
import { reindex } from '../../src/jobs/reindex.js';
import { JobWorker } from '../../src/jobs/worker.js';
import { startServer } from '../helpers/server.js';

const COLOUR = 'http://example.org/fhir/StructureDefinition/favourite-colour';
const patient = (colour: string) => ({ resourceType: 'Patient', extension: [{ url: COLOUR, valueString: colour }] });
const param = {
  resourceType: 'SearchParameter', url: 'http://example.org/fhir/SearchParameter/patient-colour', name: 'colour',
  status: 'active', description: 'Favourite colour', code: 'colour', base: ['Patient'], type: 'string',
  expression: `Patient.extension.where(url='${COLOUR}').value`,
};
const ids = (bundle: { entry?: { resource: { id: string } }[] }) => (bundle.entry ?? []).map((e) => e.resource.id).sort();
const strict = { prefer: 'handling=strict' };

t.test('a custom SearchParameter: used for new writes at once, $reindex backfills, listed, tenant-local, removable', async (t) => {
  const s = await startServer(t);
  const other = await s.newTenant();
  const before = (await s.request('POST', 'Patient', { body: patient('blue') })).json();
  await s.request('POST', 'Patient', { body: patient('green') });
  t.equal((await s.request('GET', 'Patient?colour=blue', { headers: strict })).statusCode, 400, 'unknown before it exists');

  const created = await s.request('POST', 'SearchParameter', { body: param });
  t.equal(created.statusCode, 201);
  const after = (await s.request('POST', 'Patient', { body: patient('Blue sky') })).json();
  t.same(ids((await s.request('GET', 'Patient?colour=blue', { headers: strict })).json()), [after.id],
    'new writes are indexed at once; older ones wait for $reindex');

  const kick = await s.request('POST', '$reindex');
  t.equal(kick.statusCode, 202);
  const status = String(kick.headers['content-location']);
  t.match(status, /\$job-status\?id=/);
  await new JobWorker(s.deps, { reindex }).drain();
  const job = (await s.request('GET', status.replace(s.url + '/', ''))).json();
  const value = (n: string) => job.parameter.find((p: { name: string }) => p.name === n);
  t.equal(value('status').valueCode, 'completed');
  t.equal(value('done').valueInteger, value('total').valueInteger, 'progress reached the total');
  t.same(ids((await s.request('GET', 'Patient?colour=blue', { headers: strict })).json()), [before.id, after.id].sort(),
    'backfilled');

  const cs = (await s.request('GET', 'metadata')).json();
  const params = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Patient').searchParam;
  t.ok(params.some((p: { name: string; definition: string }) => p.name === 'colour' && p.definition === param.url), 'listed');
  const otherCs = (await s.request('GET', `/fhir/${other}/metadata`)).json();
  t.notOk(otherCs.rest[0].resource.find((r: { type: string }) => r.type === 'Patient').searchParam
    .some((p: { name: string }) => p.name === 'colour'), 'other tenants unaffected');
  t.equal((await s.request('GET', `/fhir/${other}/Patient?colour=blue`, { headers: strict })).statusCode, 400);

  t.equal((await s.request('DELETE', `SearchParameter/${created.json().id}`)).statusCode, 204);
  t.equal((await s.request('GET', 'Patient?colour=blue', { headers: strict })).statusCode, 400, 'removed with its resource');
});

t.test('an unusable custom SearchParameter is refused with 422', async (t) => {
  const s = await startServer(t);
  const clash = await s.request('POST', 'SearchParameter', { body: { ...param, code: 'name', name: 'name' } });
  t.equal(clash.statusCode, 422, 'clashes with a core parameter of Patient');
  const broken = await s.request('POST', 'SearchParameter', { body: { ...param, expression: 'Patient.extension.where(' } });
  t.equal(broken.statusCode, 422, 'expression does not compile');
  t.equal((await s.request('GET', 'SearchParameter/_history')).json().total, 0, 'nothing written');
});
