// Tests that conditional create/update/delete/patch and transaction conditional references accept any search criteria — http://hl7.org/fhir/R4/http.html#ccreate, #cond-update, #cdelete
import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('conditional interactions use the search engine: 0 / 1 / many outcomes on any criteria', async (t) => {
  const s = await startServer(t);
  const patient = (family: string, birthDate: string) => ({ resourceType: 'Patient', name: [{ family }], birthDate, gender: 'female' });
  const a = (await s.request('POST', 'Patient', { body: patient('Ñúñez', '1980-05-01') })).json();
  await s.request('POST', 'Patient', { body: patient('Nunez', '1990-01-01') });

  const again = await s.request('POST', 'Patient', { body: patient('Nunez', '1980-05-01'),
    headers: { 'if-none-exist': 'family=nunez&birthdate=1980-05' } });
  t.equal(again.statusCode, 200, 'If-None-Exist with string + date criteria finds the one match');
  t.equal(again.json().id, a.id);
  const many = await s.request('POST', 'Patient', { body: patient('X', '2000'), headers: { 'if-none-exist': 'family=nunez' } });
  t.equal(many.statusCode, 412, 'several matches → 412');
  const fresh = await s.request('POST', 'Patient', { body: patient('X', '2000'), headers: { 'if-none-exist': 'family=nunez&birthdate=1970' } });
  t.equal(fresh.statusCode, 201, 'no match → created');

  const upd = await s.request('PUT', 'Patient?family=nunez&birthdate=le1985', { body: { ...patient('Ñúñez', '1980-05-01'), active: true } });
  t.equal(upd.statusCode, 200, 'conditional update with a prefix');
  t.equal(upd.json().id, a.id);
  const patched = await s.request('PATCH', 'Patient?active=true', { body: [{ op: 'add', path: '/gender', value: 'other' }],
    headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(patched.statusCode, 200, 'conditional patch on a token');
  t.equal(patched.json().gender, 'other');

  t.equal((await s.request('DELETE', 'Patient?family=nunez')).statusCode, 412, 'conditional delete matching several → 412');
  t.equal((await s.request('DELETE', 'Patient?family=nobody')).statusCode, 204, 'matching none → 204');
  t.equal((await s.request('DELETE', 'Patient?gender=other')).statusCode, 204, 'matching one → deleted');
  t.equal((await s.request('GET', `Patient/${a.id}`)).statusCode, 410);

  for (const bad of ['Patient?family=x&_sort=family', 'Patient?_include=Patient:organization', 'Patient?family=x&_count=1',
    'Patient?nope=1', 'Patient?family=', 'Patient?birthdate=garbage']) {
    const res = await s.request('DELETE', bad);
    t.equal(res.statusCode, 400, `${bad} → 400`);
    t.equal(res.json().resourceType, 'OperationOutcome');
  }
});

t.test('transaction conditional references resolve with any criteria, chains included', async (t) => {
  const s = await startServer(t);
  const org = (await s.request('POST', 'Organization', { body: { resourceType: 'Organization', name: 'Acme Health', active: true } })).json();
  await s.request('POST', 'Organization', { body: { resourceType: 'Organization', name: 'Other', active: true } });
  const pat = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Ref' }], managingOrganization: { reference: `Organization/${org.id}` } } })).json();
  const tx = (ref: string) => ({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' },
    resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, performer: [{ reference: ref }] } }] });
  const ok = await s.request('POST', '', { body: tx('Organization?name=acme') });
  t.equal(ok.statusCode, 200, 'string criteria');
  t.equal(ok.json().entry[0].resource.performer[0].reference, `Organization/${org.id}`);
  const chained = await s.request('POST', '', { body: tx('Patient?organization.name=acme') });
  t.equal(chained.json().entry[0].resource.performer[0].reference, `Patient/${pat.id}`, 'chained criteria');
  t.equal((await s.request('POST', '', { body: tx('Organization?active=true') })).statusCode, 412, 'several → 412');
  t.equal((await s.request('POST', '', { body: tx('Organization?name=nobody') })).statusCode, 404, 'none → 404');
  t.equal((await s.request('POST', '', { body: tx('Organization?name=acme&_sort=name') })).statusCode, 400, 'result parameters → 400');
});
