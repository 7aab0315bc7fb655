/**
 * Orders to results (issue #18 §4): a final DiagnosticReport or an available ImagingStudy completes the ServiceRequests
 * it is basedOn; completed MedicationDispenses complete their MedicationRequest once its quantity has been dispensed;
 * the lab and pharmacy worklists are searches with _revinclude.
 */
import t from 'tap';
import type { Queryable } from '../../src/db/db.js';
import { ordersHook } from '../../src/workflows/orders.js';
import { type TestServer, startServer } from '../helpers/server.js';

/** A server holding the resources the tests' references name (referential integrity, issue #15 §2). */
async function seeded(t: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(t);
  for (const [type, id] of [['Patient', 'p1']]) {
    const res = await s.request('PUT', `${type}/${id}`, { body: { resourceType: type, id } });
    if (res.statusCode !== 201) throw new Error(res.body);
  }
  return s;
}

const order = (status = 'active') => ({ resourceType: 'ServiceRequest', status, intent: 'order', subject: { reference: 'Patient/p1' },
  code: { coding: [{ system: 'http://loinc.org', code: '24323-8', display: 'Comprehensive metabolic panel' }] } });
const report = (status: string, ...orders: string[]) => ({ resourceType: 'DiagnosticReport', status,
  code: { coding: [{ system: 'http://loinc.org', code: '24323-8' }] }, subject: { reference: 'Patient/p1' },
  basedOn: orders.map((id) => ({ reference: `ServiceRequest/${id}` })) });

async function create(s: TestServer, body: Record<string, unknown>): Promise<string> {
  const r = await s.request('POST', String(body.resourceType), { body });
  if (r.statusCode !== 201) throw new Error(`${String(body.resourceType)}: ${r.statusCode} ${r.body}`);
  return r.json().id;
}
const statusOf = async (s: TestServer, ref: string) => (await s.request('GET', ref)).json().status;

t.test('a final DiagnosticReport completes its ServiceRequests; a preliminary one does not', async (t) => {
  const s = await seeded(t);
  const [a, b, revoked, draft] = [await create(s, order()), await create(s, order('on-hold')), await create(s, order('revoked')),
    await create(s, order('draft'))];
  const prelim = await create(s, report('preliminary', a, b));
  t.equal(await statusOf(s, `ServiceRequest/${a}`), 'active', 'a preliminary report leaves the order active');

  const final = await s.request('PUT', `DiagnosticReport/${prelim}`, { body: { ...report('final', a, b, revoked), id: prelim } });
  t.equal(final.statusCode, 200, final.body);
  t.equal(await statusOf(s, `ServiceRequest/${a}`), 'completed', 'active → completed');
  t.equal(await statusOf(s, `ServiceRequest/${b}`), 'completed', 'on-hold → completed');
  t.equal(await statusOf(s, `ServiceRequest/${revoked}`), 'revoked', 'a revoked order stays revoked');
  const history = (await s.request('GET', `ServiceRequest/${a}/_history`)).json();
  t.equal(history.total, 2, 'the completion is a new version of the order');

  await create(s, report('amended', draft));
  t.equal(await statusOf(s, `ServiceRequest/${draft}`), 'completed', 'an amended report is final too');
  const unknown = await s.request('POST', 'DiagnosticReport', { body: report('final', 'no-such-order') });
  t.equal(unknown.statusCode, 422, 'a report based on an order this server does not hold is refused (referential integrity)');
});

t.test('the completion commits with the report, in a transaction Bundle, and not when the Bundle fails', async (t) => {
  const s = await seeded(t);
  const bundle = (fail: boolean) => ({ resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: 'urn:uuid:0b9e4a4e-1111-4c1e-9d1e-000000000001', resource: order(), request: { method: 'POST', url: 'ServiceRequest' } },
    { resource: { ...report('final'), basedOn: [{ reference: 'urn:uuid:0b9e4a4e-1111-4c1e-9d1e-000000000001' }] },
      request: { method: 'POST', url: 'DiagnosticReport' } },
    ...(fail ? [{ resource: { resourceType: 'Invoice', status: 'issued', totalNet: { value: 1 }, lineItem: [{ chargeItemCodeableConcept: { text: 'x' },
      priceComponent: [{ type: 'base', amount: { value: 2 } }] }] }, request: { method: 'POST', url: 'Invoice' } }] : []),
  ] });
  const ok = await s.request('POST', '', { body: bundle(false) });
  t.equal(ok.statusCode, 200, ok.body);
  const orderId = /ServiceRequest\/([^/]+)/.exec(ok.json().entry[0].response.location)![1];
  t.equal(await statusOf(s, `ServiceRequest/${orderId}`), 'completed');

  const failed = await s.request('POST', '', { body: bundle(true) });
  t.equal(failed.statusCode, 422);
  t.equal((await s.request('GET', 'ServiceRequest?_summary=count')).json().total, 1, 'nothing of the failed Bundle is written');
});

t.test('an available ImagingStudy completes its imaging order', async (t) => {
  const s = await seeded(t);
  const id = await create(s, order());
  const study = { resourceType: 'ImagingStudy', status: 'registered', subject: { reference: 'Patient/p1' },
    basedOn: [{ reference: `ServiceRequest/${id}` }] };
  const created = await create(s, study);
  t.equal(await statusOf(s, `ServiceRequest/${id}`), 'active', 'a registered study leaves it active');
  await s.request('PUT', `ImagingStudy/${created}`, { body: { ...study, id: created, status: 'available' } });
  t.equal(await statusOf(s, `ServiceRequest/${id}`), 'completed');
});

t.test('the lab worklist: ServiceRequest?status=active&_revinclude=DiagnosticReport:based-on', async (t) => {
  const s = await seeded(t);
  const waiting = await create(s, order());
  const inProgress = await create(s, order());
  const done = await create(s, order());
  const prelim = await create(s, report('preliminary', inProgress));
  await create(s, report('final', done));
  const list = (await s.request('GET', 'ServiceRequest?status=active&_revinclude=DiagnosticReport:based-on')).json();
  const entries = list.entry.map((e: { resource: { resourceType: string; id: string }; search: { mode: string } }) =>
    `${e.search.mode} ${e.resource.resourceType}/${e.resource.id}`).sort();
  t.same(entries, [`include DiagnosticReport/${prelim}`, `match ServiceRequest/${inProgress}`, `match ServiceRequest/${waiting}`].sort());
});

const prescription = (dispenseRequest?: Record<string, unknown>) => ({ resourceType: 'MedicationRequest', status: 'active', intent: 'order',
  subject: { reference: 'Patient/p1' }, medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }] },
  ...(dispenseRequest ? { dispenseRequest } : {}) });
const tablets = (value: number) => ({ value, unit: 'tablet', system: 'http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm', code: 'TAB' });
const dispense = (request: string, status: string, quantity?: Record<string, unknown>) => ({ resourceType: 'MedicationDispense', status,
  subject: { reference: 'Patient/p1' }, medicationCodeableConcept: { text: 'amlodipine 5 mg' },
  authorizingPrescription: [{ reference: `MedicationRequest/${request}` }], ...(quantity ? { quantity } : {}) });

t.test('a MedicationRequest completes when its quantity × (1 + repeats) has been dispensed', async (t) => {
  const s = await seeded(t);
  const id = await create(s, prescription({ quantity: tablets(30), numberOfRepeatsAllowed: 1 }));
  await create(s, dispense(id, 'completed', tablets(30)));
  t.equal(await statusOf(s, `MedicationRequest/${id}`), 'active', '30 of 60: still active');
  await create(s, dispense(id, 'in-progress', tablets(30)));
  await create(s, dispense(id, 'completed', { value: 30, unit: 'mL' }));
  t.equal(await statusOf(s, `MedicationRequest/${id}`), 'active', 'an unfinished dispense, or one in another unit, does not count');
  await create(s, dispense(id, 'completed', tablets(30)));
  t.equal(await statusOf(s, `MedicationRequest/${id}`), 'completed', '60 of 60: completed');
});

t.test('a MedicationRequest without a dispense quantity completes on its first completed dispense', async (t) => {
  const s = await seeded(t);
  const id = await create(s, prescription());
  const other = await create(s, prescription({ quantity: tablets(10) }));
  const first = await create(s, dispense(id, 'preparation'));
  t.equal(await statusOf(s, `MedicationRequest/${id}`), 'active');
  const worklist = (await s.request('GET', 'MedicationRequest?status=active&_revinclude=MedicationDispense:prescription')).json();
  t.same(worklist.entry.map((e: { resource: { id: string } }) => e.resource.id).sort(), [id, other, first].sort(), 'the pharmacy worklist');

  await s.request('PUT', `MedicationDispense/${first}`, { body: { ...dispense(id, 'completed'), id: first } });
  t.equal(await statusOf(s, `MedicationRequest/${id}`), 'completed');
  const after = (await s.request('GET', 'MedicationRequest?status=active&_revinclude=MedicationDispense:prescription')).json();
  t.same(after.entry.map((e: { resource: { id: string } }) => e.resource.id), [other], 'a completed prescription leaves the worklist');
});

t.test('concurrent dispenses that together fill a prescription complete it (neither misses the other)', async (t) => {
  const s = await seeded(t);
  const id = await create(s, prescription({ quantity: tablets(30), numberOfRepeatsAllowed: 1 }));
  const both = await Promise.all([1, 2].map(() => s.request('POST', 'MedicationDispense', { body: dispense(id, 'completed', tablets(30)) })));
  t.same(both.map((r) => r.statusCode), [201, 201]);
  t.equal(await statusOf(s, `MedicationRequest/${id}`), 'completed');
});

t.test('the hook reads nothing for the types it does not own, nor on a $reindex replay', async (t) => {
  const refusing = { query: async () => { throw new Error('the hook queried'); } } as unknown as Queryable;
  const hook = ordersHook(() => []);
  for (const type of ['Patient', 'Observation', 'ServiceRequest', 'MedicationRequest']) {
    await hook(refusing, 't_none', { type, id: '1', resource: { resourceType: type, status: 'final' }, isNew: true, version: 1 });
  }
  await hook(refusing, 't_none', { type: 'DiagnosticReport', id: '1', resource: report('final', 'a'), isNew: false, version: 2, replay: true });
  await hook(refusing, 't_none', { type: 'DiagnosticReport', id: '1', resource: undefined, isNew: false, version: 3 });
  await t.rejects(hook(refusing, 't_none', { type: 'DiagnosticReport', id: '1', resource: report('final', 'a'), isNew: true, version: 1 }),
    /the hook queried/, 'while a final report of its own does read');
});
