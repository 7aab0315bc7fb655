/**
 * Literal references are checked on write (issue #15 §2, the part that needs no database): their form, the target
 * types their element allows, local `#id` references (ref-1), and in a transaction `urn:uuid:` references the Bundle
 * does not resolve. Each rule: a refused resource with its expression, and an accepted one.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';

interface Outcome { issue: { code: string; expression?: string[]; diagnostics?: string }[] }

const obs = (subject: unknown, more: Record<string, unknown> = {}) =>
  ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject, ...more });

t.test('a reference must be well formed and of a type its element allows', async (t) => {
  const s = await startServer(t);
  // The targets exist (referential integrity: test/validation/referential-integrity.test.ts).
  for (const [type, id] of [['Patient', 'p1'], ['Group', 'g1']]) {
    await s.request('PUT', `${type}/${id}`, { body: { resourceType: type, id, ...(type === 'Group' ? { type: 'person', actual: true } : {}) } });
  }
  await s.request('PUT', 'Claim/1', { body: { resourceType: 'Claim', id: '1', status: 'active', type: { text: 'x' }, use: 'claim',
    patient: { reference: 'Patient/p1' }, created: '2024-01-01', provider: { display: 'x' }, priority: { text: 'normal' },
    insurance: [{ sequence: 1, focal: true, coverage: { display: 'x' } }] } });
  const accepted: [string, unknown][] = [
    ['relative', obs({ reference: 'Patient/p1' })],
    ['versioned', obs({ reference: 'Patient/p1/_history/2' })],
    ['another allowed type', obs({ reference: 'Group/g1' })],
    ['absolute, another server', obs({ reference: 'https://other.example.org/fhir/Claim/9' })],
    ['logical (identifier only)', obs({ identifier: { system: 'urn:x', value: '1' } })],
    ['local, to a contained resource', obs({ reference: '#pt' }, { contained: [{ resourceType: 'Patient', id: 'pt' }] })],
    ['Reference(Any) in an extension', { resourceType: 'Patient', extension: [{ url: 'http://example.org/x', valueReference: { reference: 'Claim/1' } }] }],
  ];
  for (const [name, body] of accepted) {
    const res = await s.request('POST', (body as { resourceType: string }).resourceType, { body });
    t.equal(res.statusCode, 201, `${name}: ${res.statusCode === 201 ? '' : res.body}`);
  }
  const refused: [string, unknown, string, RegExp][] = [
    ['not a reference at all', obs({ reference: 'not a ref at all' }), 'Observation.subject.reference', /is not a reference/],
    ['a type the element does not allow', obs({ reference: 'Claim/123' }), 'Observation.subject.reference',
      /Observation\.subject may reference Device, Group, Location, Patient, not Claim/],
    ['an unknown type', obs({ reference: 'Robot/1' }), 'Observation.subject.reference', /unknown resource type 'Robot'/],
    ['a local reference without its contained resource', obs({ reference: '#missing' }), 'Observation.subject.reference', /ref-1/],
    ['inside a backbone element, in a list', { resourceType: 'Appointment', status: 'booked',
      participant: [{ status: 'accepted', actor: { reference: 'Practitioner/a' } }, { status: 'accepted', actor: { reference: 'Observation/o' } }] },
    'Appointment.participant[1].actor.reference', /Appointment\.participant\.actor may reference/],
    ['in a contained resource', obs({ reference: '#pt' }, { contained: [{ resourceType: 'Patient', id: 'pt',
      generalPractitioner: [{ reference: 'Observation/o' }] }] }), 'Observation.contained[0].generalPractitioner[0].reference', /generalPractitioner/],
  ];
  for (const [name, body, expression, text] of refused) {
    const type = (body as { resourceType: string }).resourceType;
    const before = (await s.request('GET', `${type}?_summary=count`)).json().total;
    const res = await s.request('POST', type, { body });
    t.equal(res.statusCode, 400, name);
    const issue = (res.json() as Outcome).issue[0]!;
    t.same(issue.expression, [expression], name);
    t.match(issue.diagnostics, text, name);
    t.equal((await s.request('GET', `${type}?_summary=count`)).json().total, before, `${name}: nothing written`);
  }
});

t.test('a transaction whose urn:uuid reference is not in the Bundle fails whole', async (t) => {
  const s = await startServer(t);
  const patient = 'urn:uuid:6f1c0d3e-0000-4000-8000-000000000001';
  const entry = (subject: string) => ({ resource: obs({ reference: subject }), request: { method: 'POST', url: 'Observation' } });
  const good = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: patient, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }, entry(patient)] } });
  t.equal(good.statusCode, 200, 'resolved in the Bundle');
  const bad = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: patient, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
    entry('urn:uuid:6f1c0d3e-0000-4000-8000-00000000dead')] } });
  t.equal(bad.statusCode, 400);
  t.match(JSON.stringify(bad.json()), /urn:uuid:6f1c0d3e-0000-4000-8000-00000000dead/);
  t.equal((await s.request('GET', 'Patient?_summary=count')).json().total, 1, 'no partial write');
});
