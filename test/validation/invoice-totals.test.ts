/**
 * Invoice totals (issue #18 §5) on every write path: computed from the price components when absent, refused (422,
 * naming the element) when they disagree; $validate reports the same.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';

const eur = (value: number) => ({ value, currency: 'EUR' });
const line = (...components: [string, number][]) =>
  ({ sequence: 1, chargeItemCodeableConcept: { text: 'consultation' }, priceComponent: components.map(([type, value]) => ({ type, amount: eur(value) })) });
const invoice = (more: Record<string, unknown>) => ({ resourceType: 'Invoice', status: 'issued', ...more });

t.test('totals are computed when absent and refused when they disagree', async (t) => {
  const s = await startServer(t);
  const computed = await s.request('POST', 'Invoice', { body: invoice({ lineItem: [line(['base', 100], ['surcharge', 20], ['discount', 10], ['tax', 22])] }) });
  t.equal(computed.statusCode, 201, computed.body);
  const stored = (await s.request('GET', `Invoice/${computed.json().id}`)).json();
  t.same(stored.totalNet, eur(110), 'net = base + surcharge − discount');
  t.same(stored.totalGross, eur(132), 'gross = net + tax');

  t.equal((await s.request('POST', 'Invoice', { body: invoice({ lineItem: [line(['base', 120])], totalNet: eur(120), totalGross: eur(120) }) })).statusCode,
    201, 'consistent totals are accepted');
  t.equal((await s.request('POST', 'Invoice', { body: invoice({ lineItem: [line(['base', 0.1]), line(['base', 0.2])], totalNet: eur(0.3) }) })).statusCode,
    201, 'decimal sums are exact (0.1 + 0.2 = 0.3)');
  t.equal((await s.request('POST', 'Invoice', { body: invoice({ totalNet: eur(40), totalGross: eur(48) }) })).statusCode, 201,
    'no price components: the totals are taken as given');

  const before = (await s.request('GET', 'Invoice?_summary=count')).json().total;
  const wrong = await s.request('POST', 'Invoice', { body: invoice({ lineItem: [line(['base', 120])], totalNet: eur(999) }) });
  t.equal(wrong.statusCode, 422);
  t.equal(wrong.json().issue[0].code, 'business-rule');
  t.same(wrong.json().issue[0].expression, ['Invoice.totalNet']);
  t.match(wrong.json().issue[0].diagnostics, /999 but the price components add up to 120/);
  const gross = await s.request('POST', 'Invoice', { body: invoice({ lineItem: [line(['base', 100], ['tax', 20])], totalGross: eur(100) }) });
  t.same(gross.json().issue[0].expression, ['Invoice.totalGross']);
  const currency = await s.request('POST', 'Invoice', { body: invoice({ lineItem: [line(['base', 100]),
    { sequence: 2, chargeItemCodeableConcept: { text: 'x' }, priceComponent: [{ type: 'base', amount: { value: 5, currency: 'USD' } }] }] }) });
  t.equal(currency.statusCode, 422);
  t.same(currency.json().issue[0].expression, ['Invoice.lineItem[1].priceComponent[0].amount.currency']);
  t.equal((await s.request('GET', 'Invoice?_summary=count')).json().total, before, 'nothing written');
});

t.test('update, patch, transaction and $validate apply the same rule', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('PUT', 'Invoice/i1', { body: invoice({ id: 'i1', lineItem: [line(['base', 50])] }) })).statusCode, 201);
  t.equal((await s.request('PUT', 'Invoice/i1', { body: invoice({ id: 'i1', lineItem: [line(['base', 50])], totalNet: eur(60) }) })).statusCode, 422, 'update');
  const patched = await s.request('PATCH', 'Invoice/i1', { headers: { 'content-type': 'application/json-patch+json' },
    body: [{ op: 'replace', path: '/totalNet/value', value: 70 }] });
  t.equal(patched.statusCode, 422, 'a patch that makes the totals disagree');
  t.equal((await s.request('GET', 'Invoice/i1')).json().totalNet.value, 50, 'unchanged');

  const tx = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
    { resource: invoice({ lineItem: [line(['base', 10])], totalGross: eur(11) }), request: { method: 'POST', url: 'Invoice' } }] } });
  t.equal(tx.statusCode, 422, 'a transaction with a disagreeing Invoice fails whole');
  t.equal((await s.request('GET', 'Patient?_summary=count')).json().total, 0);

  const checked = await s.request('POST', 'Invoice/$validate', { body: invoice({ lineItem: [line(['base', 120])], totalNet: eur(999) }) });
  t.equal(checked.statusCode, 200);
  const errors = checked.json().issue.filter((i: { severity: string }) => i.severity === 'error');
  t.same(errors.map((i: { code: string; expression: string[] }) => [i.code, i.expression[0]]), [['business-rule', 'Invoice.totalNet']],
    'the one error (beside the dom-6 warning: no narrative)');
});
