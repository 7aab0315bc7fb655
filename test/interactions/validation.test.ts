import t from 'tap';
import { startServer } from '../helpers/server.js';

t.test('invalid input gets a 4xx OperationOutcome and nothing is written', async (t) => {
  const s = await startServer(t);
  const count = async () => (await s.request('GET', 'Patient/_history')).json().total;

  const cases: [string, string, unknown, number][] = [
    ['unknown element', 'Patient', { resourceType: 'Patient', nickname: 'Pete' }, 400],
    ['wrong primitive type', 'Patient', { resourceType: 'Patient', active: 'yes' }, 400],
    ['resourceType mismatch', 'Patient', { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, 400],
    ['not JSON', 'Patient', '{"resourceType": "Patient",', 400],
    ['JSON array', 'Patient', [], 400],
    ['missing required element', 'Observation', { resourceType: 'Observation', code: { text: 'x' } }, 400],
  ];
  for (const [name, type, body, status] of cases) {
    const res = await s.request('POST', type, { body });
    t.equal(res.statusCode, status, `${name} → ${status}`);
    const oo = res.json();
    t.equal(oo.resourceType, 'OperationOutcome', `${name} → OperationOutcome`);
    t.ok(oo.issue[0].diagnostics, `${name} has diagnostics`);
  }
  t.equal(await count(), 0, 'no Patient was written');

  const unknown = await s.request('POST', 'Patient', { body: { resourceType: 'Patient', nickname: 'Pete' } });
  t.match(unknown.json().issue[0].expression, [/Patient\.nickname/], 'expression names the element');
  const wrong = await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ given: [42] }] } });
  t.match(wrong.json().issue[0].expression, [/Patient\.name\[0\]\.given\[0\]/]);
});

t.test('content negotiation: JSON only', async (t) => {
  const s = await startServer(t);
  const created = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient' } })).json();
  const path = `Patient/${created.id}`;
  const xml = await s.request('GET', path, { headers: { accept: 'application/fhir+xml' } });
  t.equal(xml.statusCode, 406);
  t.equal(xml.json().resourceType, 'OperationOutcome');
  t.equal((await s.request('GET', `${path}?_format=xml`)).statusCode, 406);
  t.equal((await s.request('GET', `${path}?_format=json`, { headers: { accept: 'application/fhir+xml' } })).statusCode, 200,
    '_format overrides Accept');
  t.equal((await s.request('GET', path, { headers: { accept: 'application/json' } })).statusCode, 200);
  t.equal((await s.request('GET', path, { headers: { accept: '*/*' } })).statusCode, 200);
  t.equal((await s.request('GET', path, { headers: { accept: 'application/fhir+json; fhirVersion=3.0' } })).statusCode, 406);
  const xmlBody = await s.request('POST', 'Patient', { body: '<Patient/>', headers: { 'content-type': 'application/fhir+xml' } });
  t.equal(xmlBody.statusCode, 415);
  t.equal(xmlBody.json().resourceType, 'OperationOutcome');
  t.equal((await s.request('POST', 'Patient', { body: '{}', headers: { 'content-type': 'text/plain' } })).statusCode, 415);
  t.equal((await s.request('POST', 'Patient', { body: { resourceType: 'Patient' }, headers: { 'content-type': 'application/fhir+json; fhirVersion=3.0' } })).statusCode, 415);
  t.equal((await s.request('POST', 'Patient', { body: { resourceType: 'Patient' }, headers: { 'content-type': 'application/json+fhir' } })).statusCode, 201,
    'legacy application/json+fhir accepted');
  t.equal((await s.request('POST', 'Patient', { body: { resourceType: 'Patient' }, headers: { 'content-type': 'application/json' } })).statusCode, 201);
  const pretty = await s.request('GET', `${path}?_pretty=true`);
  t.match(pretty.body, /\n {2}"resourceType"/);
  t.notMatch((await s.request('GET', path)).body, /\n/);
});
