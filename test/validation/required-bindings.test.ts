/**
 * Required bindings (issue #15 §1) on every write path: a code outside its required ValueSet is refused with an
 * OperationOutcome naming the element and the ValueSet, and nothing is written; the same resource with a bound code
 * is accepted.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';

interface Outcome { issue: { code: string; expression?: string[]; diagnostics?: string }[] }

const VS = 'http://hl7.org/fhir/ValueSet/';
const clinical = (code: string, system = 'http://terminology.hl7.org/CodeSystem/condition-clinical') =>
  ({ coding: [{ system, code }] });

const cases: { name: string; good: object; bad: object; expression: string; valueSet: string }[] = [
  { name: 'Patient.gender', good: { resourceType: 'Patient', gender: 'female' }, bad: { resourceType: 'Patient', gender: 'robot' },
    expression: 'Patient.gender', valueSet: `${VS}administrative-gender` },
  { name: 'Observation.status', good: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
    bad: { resourceType: 'Observation', status: 'nonsense', code: { text: 'x' } }, expression: 'Observation.status',
    valueSet: `${VS}observation-status` },
  { name: 'Appointment.status', good: { resourceType: 'Appointment', status: 'proposed', participant: [{ type: [{ text: 'attender' }], status: 'accepted' }] },
    bad: { resourceType: 'Appointment', status: 'bogus', participant: [{ type: [{ text: 'attender' }], status: 'accepted' }] }, expression: 'Appointment.status',
    valueSet: `${VS}appointmentstatus` },
  { name: 'ContactPoint.system inside Patient.telecom', good: { resourceType: 'Patient', telecom: [{ system: 'phone', value: '1' }] },
    bad: { resourceType: 'Patient', telecom: [{ system: 'phone', value: '1' }, { system: 'pager2', value: '2' }] },
    expression: 'Patient.telecom[1].system', valueSet: `${VS}contact-point-system` },
  { name: 'a repeating code (Patient.name.use in a list)', good: { resourceType: 'Patient', name: [{ use: 'official', family: 'A' }] },
    bad: { resourceType: 'Patient', name: [{ use: 'official', family: 'A' }, { use: 'nick', family: 'B' }] },
    expression: 'Patient.name[1].use', valueSet: `${VS}name-use` },
  { name: 'a CodeableConcept (Condition.clinicalStatus)',
    good: { resourceType: 'Condition', subject: { reference: 'Patient/p' }, clinicalStatus: clinical('active') },
    bad: { resourceType: 'Condition', subject: { reference: 'Patient/p' }, clinicalStatus: clinical('sleeping') },
    expression: 'Condition.clinicalStatus', valueSet: `${VS}condition-clinical` },
  { name: 'a CodeableConcept coded in another system',
    good: { resourceType: 'Condition', subject: { reference: 'Patient/p' }, clinicalStatus: clinical('resolved') },
    bad: { resourceType: 'Condition', subject: { reference: 'Patient/p' }, clinicalStatus: clinical('active', 'http://example.org/status') },
    expression: 'Condition.clinicalStatus', valueSet: `${VS}condition-clinical` },
];

t.test('create: a code outside the required ValueSet is 400 naming the element and the ValueSet; a bound one is 201', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', 'Patient/p', { body: { resourceType: 'Patient', id: 'p' } });
  for (const c of cases) {
    const type = (c.good as { resourceType: string }).resourceType;
    t.equal((await s.request('POST', type, { body: c.good })).statusCode, 201, `${c.name}: accepted`);
    const before = (await s.request('GET', `${type}?_summary=count`)).json().total;
    const res = await s.request('POST', type, { body: c.bad });
    t.equal(res.statusCode, 400, `${c.name}: refused`);
    const issue = (res.json() as Outcome).issue[0]!;
    t.equal(issue.code, 'code-invalid', c.name);
    t.same(issue.expression, [c.expression], c.name);
    t.match(issue.diagnostics, c.valueSet, `${c.name}: the ValueSet is named`);
    t.equal((await s.request('GET', `${type}?_summary=count`)).json().total, before, `${c.name}: nothing written`);
  }
});

t.test('update, conditional update, patch and every transaction entry are checked too', async (t) => {
  const s = await startServer(t);
  const put = await s.request('PUT', 'Patient/b1', { body: { resourceType: 'Patient', id: 'b1', gender: 'male' } });
  t.equal(put.statusCode, 201);
  const bad = await s.request('PUT', 'Patient/b1', { body: { resourceType: 'Patient', id: 'b1', gender: 'robot' } });
  t.equal(bad.statusCode, 400, 'update');
  t.equal((await s.request('PUT', 'Patient?identifier=x|1', { body: { resourceType: 'Patient', gender: 'robot' } })).statusCode, 400,
    'conditional update');
  const patched = await s.request('PATCH', 'Patient/b1', { headers: { 'content-type': 'application/json-patch+json' },
    body: [{ op: 'replace', path: '/gender', value: 'robot' }] });
  t.equal(patched.statusCode, 422, 'a patch whose result breaks a binding is an invalid result');
  t.same((patched.json() as Outcome).issue[0]!.expression, ['Patient.gender']);
  const read = (await s.request('GET', 'Patient/b1')).json();
  t.equal(read.gender, 'male', 'still the first version');
  t.equal(read.meta.versionId, '1');

  const tx = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: 'urn:uuid:0b7a6c1e-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', gender: 'female' },
      request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Observation', status: 'nonsense', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
  ] } });
  t.equal(tx.statusCode, 400, 'a transaction with one bad entry fails whole');
  t.match(JSON.stringify(tx.json()), /observation-status/);
  t.equal((await s.request('GET', 'Patient?gender=female&_summary=count')).json().total, 0, 'no partial write');

  const batch = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch', entry: [
    { resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Patient', gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
  ] } });
  t.equal(batch.statusCode, 200);
  t.same(batch.json().entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3)), ['201', '400'],
    'a batch refuses the bad entry only');
});
