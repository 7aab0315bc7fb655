/**
 * Charges to claims (issue #18 §5): ChargeItems priced from the tenant's ChargeItemDefinitions, Claim/$submit
 * adjudicated against the Coverage and the fee schedule, PaymentReconciliations balancing their Invoice.
 */
import t from 'tap';
import type { Queryable } from '../../src/db/db.js';
import { billingHook } from '../../src/workflows/billing.js';
import { type TestServer, relaxReferences, startServer } from '../helpers/server.js';

/** A server holding the resources the tests' references name (referential integrity, issue #15 §2). */
async function seeded(t: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(t);
  for (const [type, id] of [['Patient', 'p1'], ['Organization', 'clinic'], ['Organization', 'insurer'], ['Organization', 'other']]) {
    const res = await s.request('PUT', `${type}/${id}`, { body: { resourceType: type, id, ...(type === 'Organization' ? { name: id } : {}) } });
    if (res.statusCode !== 201) throw new Error(res.body);
  }
  return s;
}

const CPT = 'http://www.ama-assn.org/go/cpt';
const LOCAL = 'http://clinic.example/fee-codes';
const eur = (value: number) => ({ value, currency: 'EUR' });

async function create(s: TestServer, body: Record<string, unknown>): Promise<string> {
  const r = await s.request('POST', String(body.resourceType), { body });
  if (r.statusCode !== 201) throw new Error(`${String(body.resourceType)}: ${r.statusCode} ${r.body}`);
  return r.json().id;
}
const read = async (s: TestServer, ref: string) => (await s.request('GET', ref)).json();
const count = async (s: TestServer, type: string) => (await s.request('GET', `${type}?_summary=count`)).json().total;

const fee = (system: string, code: string, value: number, more: Record<string, unknown> = {}) => ({
  resourceType: 'ChargeItemDefinition', url: `http://clinic.example/fees/${code}`, version: '2024', status: 'active',
  code: { coding: [{ system, code }] }, propertyGroup: [{ priceComponent: [{ type: 'base', amount: eur(value) }] }], ...more });
const charge = (system: string, code: string, more: Record<string, unknown> = {}) => ({ resourceType: 'ChargeItem', status: 'billable',
  code: { coding: [{ system, code }] }, subject: { reference: 'Patient/p1' }, occurrenceDateTime: '2024-05-02', ...more });

t.test('a ChargeItem is priced from the active ChargeItemDefinition of its code', async (t) => {
  const s = await seeded(t);
  await create(s, fee(CPT, '99213', 100));
  await create(s, fee(LOCAL, 'X-RAY-1', 45.5));
  await create(s, fee(CPT, '99214', 500, { status: 'retired' }));
  await create(s, fee(CPT, '99215', 80, { effectivePeriod: { end: '2023-12-31' } }));

  const answer = await s.request('POST', 'ChargeItem', { body: charge(CPT, '99213', { quantity: { value: 2 } }) });
  t.equal(answer.json().priceOverride?.value, 200, 'the create\'s answer carries the price');
  const priced = await read(s, `ChargeItem/${answer.json().id}`);
  t.same([priced.priceOverride.value, priced.priceOverride.currency], [200, 'EUR'], 'base price × quantity');
  t.same(priced.definitionCanonical, ['http://clinic.example/fees/99213|2024']);
  t.equal(priced.meta.versionId, '1', 'the price is in the first version: filled in before it is stamped');
  const local = await read(s, `ChargeItem/${await create(s, charge(LOCAL, 'X-RAY-1', { quantity: { value: 3 } }))}`);
  t.equal(local.priceOverride.value, 136.5, 'a local code alike; decimal products are exact');

  for (const [system, code, why] of [[LOCAL, '99213', 'same code in another system'], [CPT, '99214', 'retired definition'],
    [CPT, '99215', 'definition no longer in effect'], [CPT, '00000', 'no definition']]) {
    const unpriced = await read(s, `ChargeItem/${await create(s, charge(system!, code!))}`);
    t.equal(unpriced.priceOverride, undefined, `unpriced: ${why}`);
    t.equal(unpriced.meta.versionId, '1');
  }
  const own = await read(s, `ChargeItem/${await create(s, charge(CPT, '99213', { priceOverride: eur(90) }))}`);
  t.same(own.priceOverride, eur(90), "the client's own price is kept");

  const requantified = await s.request('PUT', `ChargeItem/${priced.id}`, { body: { ...priced, quantity: { value: 3 } } });
  t.equal(requantified.statusCode, 200, requantified.body);
  t.equal((await read(s, `ChargeItem/${priced.id}`)).priceOverride.value, 300, 'a server price is recomputed when the quantity changes');
});

const coverage = (more: Record<string, unknown> = {}) => ({ resourceType: 'Coverage', status: 'active',
  beneficiary: { reference: 'Patient/p1' }, payor: [{ reference: 'Organization/insurer' }], period: { start: '2024-01-01', end: '2024-12-31' },
  costToBeneficiary: [
    { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-copay-type', code: 'copay' }] }, valueMoney: eur(10) },
    { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-copay-type', code: 'copaypct' }] },
      valueQuantity: { value: 20, unit: '%', system: 'http://unitsofmeasure.org', code: '%' } }],
  ...more });
const claim = (coverageId: string, items: Record<string, unknown>[], more: Record<string, unknown> = {}) => ({
  resourceType: 'Claim', status: 'active', use: 'claim', created: '2024-05-03', patient: { reference: 'Patient/p1' },
  type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
  provider: { reference: 'Organization/clinic' }, priority: { coding: [{ code: 'normal' }] }, insurer: { reference: 'Organization/insurer' },
  insurance: [{ sequence: 1, focal: true, coverage: { reference: `Coverage/${coverageId}` } }],
  item: items.map((item, i) => ({ sequence: i + 1, servicedDate: '2024-05-02', ...item })), ...more });
const item = (code: string, net?: number) => ({ productOrService: { coding: [{ system: CPT, code }] }, ...(net ? { net: eur(net) } : {}) });

type Adjudication = { category: { coding: { code: string }[] }; amount?: { value: number }; value?: number };
const amounts = (adjudication: Adjudication[]) => Object.fromEntries(adjudication.map((a) => [a.category.coding[0]!.code, a.amount?.value ?? a.value]));
const errors = (response: { error?: { itemSequence?: number; code: { coding: { code: string }[] } }[] }) =>
  (response.error ?? []).map((e) => `${e.itemSequence ?? '-'} ${e.code.coding[0]!.code}`);

t.test('Claim/$submit adjudicates items against the fee schedule and the Coverage cost sharing', async (t) => {
  const s = await seeded(t);
  await create(s, fee(CPT, '99213', 100));
  await create(s, fee(CPT, '80053', 40));
  const cov = await create(s, coverage());
  const r = await s.request('POST', 'Claim/$submit', { body: claim(cov, [item('99213', 150), item('80053'), item('12345', 30)]) });
  t.equal(r.statusCode, 200, r.body);
  const response = r.json();
  t.equal(response.resourceType, 'ClaimResponse');
  t.equal(response.outcome, 'partial', 'one item has no fee');
  t.same(amounts(response.item[0].adjudication), { submitted: 150, eligible: 100, eligpercent: 80, copay: 10, 'patient-share': 28, benefit: 72 },
    'eligible = min(net, fee); the copay, then 20 % coinsurance of the rest, is the patient\'s');
  t.same(amounts(response.item[1].adjudication), { eligible: 40, eligpercent: 80, 'patient-share': 8, benefit: 32 }, 'the copay is charged once');
  t.same(errors(response), ['3 no-fee-schedule']);
  t.same(amounts(response.total), { submitted: 150, eligible: 140, copay: 10, 'patient-share': 36, benefit: 104 });
  t.same(response.payment.amount, eur(104));

  const claimRef = response.request.reference;
  t.match(claimRef, /^Claim\/[\w-]+$/);
  t.equal((await read(s, claimRef)).resourceType, 'Claim', 'the Claim is stored');
  const stored = await s.request('GET', `ClaimResponse?request=${claimRef}`);
  t.equal(stored.json().total, 1, 'the ClaimResponse is stored, findable by its request');
  const valid = await s.request('POST', 'ClaimResponse/$validate', { body: response });
  t.same(valid.json().issue.filter((i: { severity: string }) => i.severity === 'error'), [], 'the ClaimResponse is valid R4');

  const wrapped = await s.request('POST', 'Claim/$submit', { body: { resourceType: 'Parameters',
    parameter: [{ name: 'resource', resource: claim(cov, [item('99213')]) }] } });
  t.equal(wrapped.json().outcome, 'complete', 'a Parameters body with the resource parameter');
  t.same(amounts(wrapped.json().item[0].adjudication), { eligible: 100, eligpercent: 80, copay: 10, 'patient-share': 28, benefit: 72 },
    'without a net the fee is eligible');
});

t.test('Claim/$submit against an inactive, expired or mismatched Coverage answers a ClaimResponse with outcome error', async (t) => {
  const s = await seeded(t);
  await create(s, fee(CPT, '99213', 100));
  const cancelled = await create(s, coverage({ status: 'cancelled' }));
  const expired = await create(s, coverage({ period: { start: '2023-01-01', end: '2023-12-31' } }));
  const otherPayer = await create(s, coverage({ payor: [{ reference: 'Organization/other' }] }));
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['inactive', claim(cancelled, [item('99213')]), ['- coverage-inactive']],
    ['expired', claim(expired, [item('99213')]), ['1 coverage-period']],
    ['another payer', claim(otherPayer, [item('99213')]), ['- coverage-payor']],
    ['named by identifier only', claim('x', [item('99213')], { insurance: [{ sequence: 1, focal: true,
      coverage: { identifier: { system: 'http://insurer.example/members', value: 'M-1' } } }] }), ['- no-coverage']],
  ];
  for (const [why, body, expected] of cases) {
    const r = await s.request('POST', 'Claim/$submit', { body });
    t.equal(r.statusCode, 200, `${why}: ${r.body}`);
    t.equal(r.json().outcome, 'error', why);
    t.same(errors(r.json()), expected, why);
    t.equal(r.json().payment, undefined, `${why}: no benefit`);
  }
  const missing = claim('nothing-here', [item('99213')]);
  const refused = await s.request('POST', 'Claim/$submit', { body: missing });
  t.equal(refused.statusCode, 422, 'a Coverage the tenant does not hold: refused by referential integrity');
  t.same(refused.json().issue[0].expression, ['Claim.insurance[0].coverage']);
  await relaxReferences(s);
  const relaxed = await s.request('POST', 'Claim/$submit', { body: missing });
  t.equal(relaxed.statusCode, 200, 'relaxed, the Claim is stored and adjudicated');
  t.same(errors(relaxed.json()), ['- coverage-not-found']);
  t.equal(await count(s, 'ClaimResponse'), cases.length + 1, 'each is stored');
});

t.test('Claim/$submit with bad input → 4xx OperationOutcome and nothing written', async (t) => {
  const s = await seeded(t);
  const cov = await create(s, coverage());
  const notClaim = await s.request('POST', 'Claim/$submit', { body: { resourceType: 'Patient' } });
  t.equal(notClaim.statusCode, 400);
  t.equal(notClaim.json().issue[0].code, 'invalid');
  const invalid = await s.request('POST', 'Claim/$submit', { body: { ...claim(cov, [item('99213')]), status: 'bogus' } });
  t.equal(invalid.statusCode, 400, 'a Claim the R4 schema refuses');
  const two = await s.request('POST', 'Claim/$submit', { body: { resourceType: 'Parameters', parameter: [] } });
  t.equal(two.statusCode, 400);
  t.same(two.json().issue[0].expression, ['Parameters.parameter']);
  t.equal((await s.request('GET', 'Claim/$submit')).statusCode, 405);
  t.equal(await count(s, 'Claim'), 0);
  t.equal(await count(s, 'ClaimResponse'), 0);
});

const invoice = (value: number) => ({ resourceType: 'Invoice', status: 'issued', subject: { reference: 'Patient/p1' },
  lineItem: [{ chargeItemCodeableConcept: { text: 'consultation' }, priceComponent: [{ type: 'base', amount: eur(value) }] }] });
const payment = (details: [string, number | undefined][], more: Record<string, unknown> = {}) => ({ resourceType: 'PaymentReconciliation',
  status: 'active', created: '2024-06-01', paymentDate: '2024-06-01', paymentAmount: eur(details.reduce((sum, [, v]) => sum + (v ?? 0), 0)),
  detail: details.map(([inv, v]) => ({ type: { coding: [{ code: 'payment' }] }, request: { reference: `Invoice/${inv}` }, ...(v !== undefined ? { amount: eur(v) } : {}) })),
  ...more });

t.test('payments against an Invoice balance it once they reach its total', async (t) => {
  const s = await seeded(t);
  const inv = await create(s, invoice(120));
  const other = await create(s, invoice(30));
  await create(s, payment([[inv, 50], [other, 30]]));
  t.equal((await read(s, `Invoice/${inv}`)).status, 'issued', '50 of 120: still issued');
  t.equal((await read(s, `Invoice/${other}`)).status, 'balanced', '30 of 30: balanced');
  await create(s, payment([[inv, 40]], { status: 'cancelled' }));
  t.equal((await read(s, `Invoice/${inv}`)).status, 'issued', 'a cancelled payment does not count');
  await create(s, { ...payment([[inv, undefined]]), paymentAmount: eur(70) });
  t.equal((await read(s, `Invoice/${inv}`)).status, 'balanced', 'one detail without an amount pays paymentAmount: 120 of 120');
});

t.test('a payment in another currency than the Invoice → 422 naming the element, nothing written', async (t) => {
  const s = await seeded(t);
  const inv = await create(s, invoice(100));
  const usd = payment([[inv, 100]]);
  usd.detail[0]!.amount = { value: 100, currency: 'USD' };
  const r = await s.request('POST', 'PaymentReconciliation', { body: usd });
  t.equal(r.statusCode, 422, r.body);
  t.equal(r.json().issue[0].code, 'business-rule');
  t.same(r.json().issue[0].expression, ['PaymentReconciliation.detail[0].amount.currency']);
  t.equal(await count(s, 'PaymentReconciliation'), 0);
  t.equal((await read(s, `Invoice/${inv}`)).status, 'issued');
});

t.test('concurrent payments that together pay an Invoice balance it (neither misses the other)', async (t) => {
  const s = await seeded(t);
  const inv = await create(s, invoice(120));
  const both = await Promise.all([1, 2].map(() => s.request('POST', 'PaymentReconciliation', { body: payment([[inv, 60]]) })));
  t.same(both.map((r) => r.statusCode), [201, 201]);
  t.equal((await read(s, `Invoice/${inv}`)).status, 'balanced');
});

t.test('the hook reads nothing for the types it does not own, nor on a $reindex replay', async (t) => {
  const refusing = { query: async () => { throw new Error('the hook queried'); } } as unknown as Queryable;
  const hook = billingHook(() => []);
  for (const type of ['Patient', 'Invoice', 'Claim', 'ChargeItemDefinition']) {
    await hook(refusing, 't_none', { type, id: '1', resource: { resourceType: type, status: 'active' }, isNew: true, version: 1 });
  }
  await hook(refusing, 't_none', { type: 'PaymentReconciliation', id: '1', resource: { resourceType: 'PaymentReconciliation' }, isNew: false,
    version: 2, replay: true });
  // Pricing happens before the write (prepare): for ChargeItems only, and not for a price the client set.
  for (const type of ['Patient', 'Invoice', 'Claim']) t.equal(await hook.prepare!(refusing, 't_none', type, { resourceType: type }), undefined);
  t.equal(await hook.prepare!(refusing, 't_none', 'ChargeItem', charge(CPT, '99213', { priceOverride: eur(5) })), undefined);
  await t.rejects(hook.prepare!(refusing, 't_none', 'ChargeItem', charge(CPT, '99213')), /the hook queried/,
    'while an unpriced ChargeItem does read');
});
