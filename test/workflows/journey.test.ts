/**
 * The patient journey of issue #18, end to end and through HTTP only: register a patient, find and book a slot, check
 * in (Encounter), order a lab test, record LOINC results and a final report, charge, invoice, submit the claim and
 * record the payment — asserting the HTTP status of every request and the status of every resource on the way.
 */
import t from 'tap';
import { DAY, KOLKATA, nextMonday, weekdayMornings } from './schedule-fixtures.js';
import { type Reply, type TestServer, startServer } from '../helpers/server.js';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const date = (ms: number) => iso(ms).slice(0, 10);

const CPT = 'http://www.ama-assn.org/go/cpt';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const HOLD_UNTIL = 'http://hearth.dev/fhir/StructureDefinition/hold-until';
const PRICED_BY = 'http://hearth.dev/fhir/StructureDefinition/priced-from-fee-schedule';
const eur = (value: number) => ({ value, currency: 'EUR' });


const CONSULTATION = { coding: [{ system: CPT, code: '99213', display: 'Office visit, established patient, low complexity' }] };
const PANEL = { coding: [{ system: LOINC, code: '24323-8', display: 'Comprehensive metabolic 2000 panel - Serum or Plasma' }] };
const PANEL_CPT = { coding: [{ system: CPT, code: '80053', display: 'Comprehensive metabolic panel' }] };
/** Three of the panel's LOINC results, in UCUM units. */
const RESULTS: [string, string, number, string][] = [
  ['2345-7', 'Glucose [Mass/volume] in Serum or Plasma', 95, 'mg/dL'],
  ['2951-2', 'Sodium [Moles/volume] in Serum or Plasma', 140, 'mmol/L'],
  ['2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 4.2, 'mmol/L'],
];

type Adjudication = { category: { coding: { code: string }[] }; amount?: { value: number }; value?: number };
const amounts = (adjudication: Adjudication[]) =>
  Object.fromEntries(adjudication.map((a) => [a.category.coding[0]!.code, a.amount?.value ?? a.value]));
interface Entry { resource: { resourceType: string; id: string }; search?: { mode: string } }
const entries = (bundle: { entry?: Entry[] }) => (bundle.entry ?? []).map((e) => `${e.search?.mode} ${e.resource.resourceType}/${e.resource.id}`);

t.test('the patient journey: booking, visit, lab order and results, charges, invoice, claim and payment', async (t) => {
  const s: TestServer = await startServer(t);

  /** A request that must answer `expected`; the answer's body when it does. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function call(method: string, path: string, expected: number, body?: unknown, headers?: Record<string, string>): Promise<any> {
    const r: Reply = await s.request(method, path, { ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
    t.equal(r.statusCode, expected, `${method} ${path.replace(/\?.*/, '')} → ${expected}`, { body: r.body });
    if (r.statusCode !== expected) throw new Error(`${method} ${path}: ${r.statusCode} ${r.body}`);
    return r.body ? r.json() : undefined;
  }
  const create = async (body: Record<string, unknown>): Promise<string> => (await call('POST', String(body.resourceType), 201, body)).id;
  const read = (ref: string) => call('GET', ref, 200);
  const statusOf = async (ref: string) => (await read(ref)).status;
  const patch = (ref: string, ops: unknown[]) => call('PATCH', ref, 200, ops, { 'content-type': 'application/json-patch+json' });

  const monday = nextMonday();
  const now = Date.now();

  // 1. Registration: the patient, the doctor, the clinic room, the payer, the patient's Coverage and the fee schedule.
  const patient = await create({ resourceType: 'Patient', active: true, name: [{ family: 'Journey', given: ['Jo'] }],
    gender: 'female', birthDate: '1980-04-01' });
  const doctor = await create({ resourceType: 'Practitioner', active: true, name: [{ family: 'Osler', given: ['William'], prefix: ['Dr'] }] });
  const room = await create({ resourceType: 'Location', status: 'active', name: 'Consulting room 1', mode: 'instance' });
  const payer = await create({ resourceType: 'Organization', active: true, name: 'Acme Health Insurance',
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'ins' }] }] });
  const coverage = await create({ resourceType: 'Coverage', status: 'active',
    beneficiary: { reference: `Patient/${patient}` }, subscriber: { reference: `Patient/${patient}` },
    relationship: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: 'self' }] },
    payor: [{ reference: `Organization/${payer}` }], period: { start: date(now - 30 * DAY), end: date(now + 365 * DAY) },
    costToBeneficiary: [
      { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-copay-type', code: 'copay' }] }, valueMoney: eur(15) },
      { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-copay-type', code: 'copaypct' }] },
        valueQuantity: { value: 20, unit: '%', system: UCUM, code: '%' } }] });
  t.equal(await statusOf(`Coverage/${coverage}`), 'active');
  const fee = (code: Record<string, unknown>, value: number, slug: string) => create({ resourceType: 'ChargeItemDefinition',
    url: `http://clinic.example/fees/${slug}`, version: '1', status: 'active', code, effectivePeriod: { start: date(now - 365 * DAY) },
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: eur(value) }] }] });
  await fee(CONSULTATION, 100, '99213');
  // The lab panel is priced by its CPT code and its LOINC code alike.
  await fee({ coding: [...PANEL_CPT.coding, ...PANEL.coding] }, 40, '80053');
  t.equal((await call('GET', 'ChargeItemDefinition?status=active&_summary=count', 200)).total, 2, 'the fee schedule');

  // 2. Availability → $generate-slots → $find → $hold → $book.
  const schedule = await create({ resourceType: 'Schedule', active: true, extension: [weekdayMornings, KOLKATA],
    serviceType: [{ coding: [{ system: 'http://snomed.info/sct', code: '11429006', display: 'Consultation' }] }],
    actor: [{ reference: `Practitioner/${doctor}` }, { reference: `Location/${room}` }] });
  const generated = await call('POST', `Schedule/${schedule}/$generate-slots`, 200, { resourceType: 'Parameters', parameter: [
    { name: 'start', valueDateTime: iso(monday) }, { name: 'end', valueDateTime: iso(monday + DAY) }] });
  const param = (name: string) => generated.parameter.find((p: { name: string }) => p.name === name);
  t.equal(param('created').valueInteger, 6, 'Monday 09:00–12:00 in half hours');
  t.equal(param('existing').valueInteger, 0);
  const slots = await call('GET', `Slot?schedule=Schedule/${schedule}&_sort=start`, 200);
  t.equal(slots.total, 6);
  t.same(slots.entry.map((e: { resource: { status: string } }) => e.resource.status), Array(6).fill('free'), 'every slot free');

  const find = () => call('GET', `Appointment/$find?practitioner=Practitioner/${doctor}&patient=Patient/${patient}`
    + `&start=${encodeURIComponent(iso(monday))}&end=${encodeURIComponent(iso(monday + DAY))}`, 200);
  const found = await find();
  t.equal(found.total, 6, 'six proposals');
  const proposal = found.entry[0].resource;
  const visitStart = monday + 3.5 * HOUR; // 09:00 in Kolkata
  t.match(proposal, { resourceType: 'Appointment', status: 'proposed', start: iso(visitStart), end: iso(visitStart + HOUR / 2), minutesDuration: 30 });
  t.same(proposal.participant.map((p: { actor: { reference: string } }) => p.actor.reference),
    [`Practitioner/${doctor}`, `Location/${room}`, `Patient/${patient}`], 'the doctor, the room and the patient');
  const slotRef: string = proposal.slot[0].reference;
  t.equal(slotRef, `Slot/${slots.entry[0].resource.id}`, 'the first slot');

  const held = await call('POST', 'Appointment/$hold', 200, { resourceType: 'Parameters', parameter: [{ name: 'appt-resource', resource: proposal }] });
  t.equal(held.resourceType, 'Bundle');
  const appointment: string = held.entry[0].resource.id;
  const apptRef = `Appointment/${appointment}`;
  t.equal(held.entry[0].resource.status, 'pending', '$hold: the Appointment is pending');
  const until = held.entry[0].resource.extension.find((e: { url: string }) => e.url === HOLD_UNTIL)?.valueInstant;
  t.ok(Date.parse(until) > now, 'held until a time ahead');
  t.equal(await statusOf(slotRef), 'busy-tentative', '$hold: the Slot is busy-tentative');
  t.equal((await find()).total, 5, 'a held slot is no longer proposed');

  const booked = await call('POST', 'Appointment/$book', 200, { resourceType: 'Parameters',
    parameter: [{ name: 'appt-id', valueString: apptRef }] });
  t.equal(booked.entry[0].resource.id, appointment);
  t.equal(booked.entry[0].resource.status, 'booked', '$book: the Appointment is booked');
  t.notOk((booked.entry[0].resource.extension ?? []).some((e: { url: string }) => e.url === HOLD_UNTIL), 'the hold is gone');
  t.equal(await statusOf(apptRef), 'booked');
  t.equal(await statusOf(slotRef), 'busy', '$book: the Slot is busy');
  t.equal((await find()).total, 5, 'a booked slot is not proposed');
  const other = await create({ resourceType: 'Patient', name: [{ family: 'Other' }] });
  const doubleBooking = await s.request('POST', 'Appointment', { body: { resourceType: 'Appointment', status: 'booked', slot: [{ reference: slotRef }],
    start: iso(visitStart), end: iso(visitStart + HOUR / 2),
    participant: [{ actor: { reference: `Practitioner/${doctor}` }, status: 'accepted' }, { actor: { reference: `Patient/${other}` }, status: 'accepted' }] } });
  t.equal(doubleBooking.statusCode, 409, 'the booked slot cannot be booked again');
  t.match(doubleBooking.json().issue[0].diagnostics, new RegExp(`${slotRef} is already taken by ${apptRef}`));

  // 3. Check-in: the Appointment is arrived, an Encounter in progress refers to it.
  const arrived = await patch(apptRef, [{ op: 'replace', path: '/status', value: 'arrived' }]);
  t.equal(arrived.status, 'arrived', 'check-in: the Appointment is arrived');
  t.equal(await statusOf(slotRef), 'busy', 'an arrived appointment keeps its slot');
  const encounterBody = { resourceType: 'Encounter', status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    type: [{ coding: [{ system: 'http://snomed.info/sct', code: '11429006', display: 'Consultation' }] }],
    subject: { reference: `Patient/${patient}` }, appointment: [{ reference: apptRef }],
    participant: [{ individual: { reference: `Practitioner/${doctor}` } }], location: [{ location: { reference: `Location/${room}` } }],
    period: { start: iso(visitStart) } };
  const encounter = await create(encounterBody);
  const encounterRef = `Encounter/${encounter}`;
  t.equal(await statusOf(encounterRef), 'in-progress', 'the Encounter is in progress');
  t.equal((await call('GET', `Encounter?appointment=${apptRef}`, 200)).total, 1, 'the Encounter is found by its appointment');

  // 4. The lab order, the worklist, the LOINC results and the final report.
  const order = await create({ resourceType: 'ServiceRequest', status: 'active', intent: 'order',
    category: [{ coding: [{ system: 'http://snomed.info/sct', code: '108252007', display: 'Laboratory procedure' }] }],
    code: PANEL, subject: { reference: `Patient/${patient}` }, encounter: { reference: encounterRef },
    requester: { reference: `Practitioner/${doctor}` }, authoredOn: iso(visitStart + 10 * 60_000) });
  const orderRef = `ServiceRequest/${order}`;
  t.equal(await statusOf(orderRef), 'active', 'the order is active');
  const worklist = () => call('GET', 'ServiceRequest?status=active&_revinclude=DiagnosticReport:based-on', 200);
  t.same(entries(await worklist()), [`match ${orderRef}`], 'the lab worklist shows the order');

  const observations: string[] = [];
  for (const [code, display, value, unit] of RESULTS) {
    observations.push(await create({ resourceType: 'Observation', status: 'final', basedOn: [{ reference: orderRef }],
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: LOINC, code, display }] }, subject: { reference: `Patient/${patient}` }, encounter: { reference: encounterRef },
      effectiveDateTime: iso(visitStart + 20 * 60_000), valueQuantity: { value, unit, system: UCUM, code: unit } }));
  }
  const obs = await call('GET', `Observation?based-on=${orderRef}&_count=10`, 200);
  t.equal(obs.total, 3, 'three results based on the order');
  t.same(obs.entry.map((e: { resource: { status: string } }) => e.resource.status), ['final', 'final', 'final']);
  t.equal(await statusOf(orderRef), 'active', 'results alone do not complete the order');

  const reportBody = (status: string) => ({ resourceType: 'DiagnosticReport', status, basedOn: [{ reference: orderRef }],
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'CH', display: 'Chemistry' }] }],
    code: PANEL, subject: { reference: `Patient/${patient}` }, encounter: { reference: encounterRef },
    effectiveDateTime: iso(visitStart + 20 * 60_000), issued: iso(visitStart + 40 * 60_000),
    performer: [{ reference: `Practitioner/${doctor}` }], result: observations.map((id) => ({ reference: `Observation/${id}` })) });
  const report = await create(reportBody('preliminary'));
  const reportRef = `DiagnosticReport/${report}`;
  t.equal(await statusOf(orderRef), 'active', 'a preliminary report leaves the order active');
  t.same(entries(await worklist()).sort(), [`include ${reportRef}`, `match ${orderRef}`], 'the worklist shows the order and its preliminary report');
  const finalReport = await call('PUT', reportRef, 200, { ...reportBody('final'), id: report });
  t.equal(finalReport.status, 'final', 'the report is final');
  t.equal(await statusOf(orderRef), 'completed', 'the final report completes the order');
  t.notOk(entries(await worklist()).some((e) => e.endsWith(orderRef) || e.endsWith(reportRef)), 'and the worklist no longer lists it');
  t.equal((await call('GET', `DiagnosticReport?based-on=${orderRef}&status=final`, 200)).total, 1);

  // The visit ends: the Encounter finished, the Appointment fulfilled (still holding its slot).
  const finished = await call('PUT', encounterRef, 200, { ...encounterBody, id: encounter, status: 'finished',
    period: { start: iso(visitStart), end: iso(visitStart + HOUR) } });
  t.equal(finished.status, 'finished', 'the Encounter is finished');
  const appt = await read(apptRef);
  t.equal(appt.status, 'arrived');
  const fulfilled = await call('PUT', apptRef, 200, { ...appt, status: 'fulfilled' });
  t.equal(fulfilled.status, 'fulfilled', 'the Appointment is fulfilled');
  t.equal(await statusOf(slotRef), 'busy', 'a fulfilled appointment keeps its slot');

  // 5. Charges priced from the fee schedule, an Invoice whose totals the server computes.
  const chargeBody = (code: Record<string, unknown>, more: Record<string, unknown>) => ({ resourceType: 'ChargeItem', status: 'billable',
    code, subject: { reference: `Patient/${patient}` }, context: { reference: encounterRef }, occurrenceDateTime: iso(visitStart),
    performer: [{ actor: { reference: `Practitioner/${doctor}` } }], quantity: { value: 1 }, ...more });
  const consultation = await create(chargeBody(CONSULTATION, {}));
  const lab = await create(chargeBody(PANEL, { service: [{ reference: reportRef }] }));
  const charges = [[consultation, 100, '99213'], [lab, 40, '80053']] as const;
  for (const [id, price, slug] of charges) {
    const charge = await read(`ChargeItem/${id}`);
    t.equal(charge.status, 'billable');
    t.same([charge.priceOverride.value, charge.priceOverride.currency], [price, 'EUR'], `ChargeItem ${slug} priced from the fee schedule`);
    t.ok(charge.priceOverride.extension?.some((e: { url: string }) => e.url === PRICED_BY), 'marked as the server\'s price');
    t.same(charge.definitionCanonical, [`http://clinic.example/fees/${slug}|1`]);
    t.equal(charge.meta.versionId, '1', 'priced as it is created');
  }
  const encounterCharges = await call('GET', `ChargeItem?context=${encounterRef}`, 200);
  t.equal(encounterCharges.total, 2, 'the encounter\'s charges');
  // The invoice and the claim bill what the server priced.
  const priced = new Map<string, { value: number; currency: string }>(encounterCharges.entry.map(
    (e: { resource: { id: string; priceOverride: { value: number; currency: string } } }) =>
      [e.resource.id, { value: e.resource.priceOverride.value, currency: e.resource.priceOverride.currency }]));
  t.same([...priced.keys()].sort(), [consultation, lab].sort(), 'the consultation and the lab');

  const line = (sequence: number, id: string) => ({ sequence, chargeItemReference: { reference: `ChargeItem/${id}` },
    priceComponent: [{ type: 'base', amount: priced.get(id) }] });
  const invoiceBody = { resourceType: 'Invoice', status: 'draft', subject: { reference: `Patient/${patient}` },
    recipient: { reference: `Patient/${patient}` }, date: iso(visitStart + HOUR),
    participant: [{ actor: { reference: `Practitioner/${doctor}` } }],
    lineItem: [consultation, lab].map((id, i) => line(i + 1, id)) };
  const invoice = await create(invoiceBody);
  const invoiceRef = `Invoice/${invoice}`;
  const draft = await read(invoiceRef);
  t.equal(draft.status, 'draft');
  t.same(draft.totalNet, eur(140), 'totalNet computed by the server');
  t.same(draft.totalGross, eur(140), 'totalGross computed by the server');
  const wrongTotal = await s.request('PUT', invoiceRef, { body: { ...draft, totalGross: eur(999) } });
  t.equal(wrongTotal.statusCode, 422, 'an inconsistent total is refused');
  t.same(wrongTotal.json().issue[0].expression, ['Invoice.totalGross']);
  const issued = await patch(invoiceRef, [{ op: 'replace', path: '/status', value: 'issued' }]);
  t.equal(issued.status, 'issued', 'the Invoice is issued');
  t.same(issued.totalGross, eur(140));
  for (const [id] of charges) {
    const charge = await read(`ChargeItem/${id}`);
    const billed = await call('PUT', `ChargeItem/${id}`, 200, { ...charge, status: 'billed' });
    t.equal(billed.status, 'billed', 'the invoiced charge is billed');
    t.same(billed.priceOverride.value, charge.priceOverride.value, 'and keeps its price');
  }

  // 6. Claim/$submit for the encounter's charges against the Coverage.
  // In visit order, consultation first: the copay is taken from the items in order.
  const claimItems = [consultation, lab].map((id, i) => ({ sequence: i + 1, productOrService: id === lab ? PANEL_CPT : CONSULTATION,
    servicedDate: date(visitStart), quantity: { value: 1 }, unitPrice: priced.get(id), net: priced.get(id), encounter: [{ reference: encounterRef }] }));
  const [consultationSeq, labSeq] = [1, 2];
  const response = await call('POST', 'Claim/$submit', 200, { resourceType: 'Claim', status: 'active', use: 'claim', created: iso(Date.now()),
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
    patient: { reference: `Patient/${patient}` }, provider: { reference: `Practitioner/${doctor}` },
    insurer: { reference: `Organization/${payer}` }, priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
    billablePeriod: { start: iso(visitStart), end: iso(visitStart + HOUR) },
    insurance: [{ sequence: 1, focal: true, coverage: { reference: `Coverage/${coverage}` } }], item: claimItems });
  t.equal(response.resourceType, 'ClaimResponse');
  t.equal(response.status, 'active');
  t.equal(response.outcome, 'complete', 'every item adjudicated');
  t.equal(response.error, undefined, 'no errors');
  const byItem = Object.fromEntries(response.item.map((i: { itemSequence: number; adjudication: Adjudication[] }) => [i.itemSequence, amounts(i.adjudication)]));
  t.same(byItem[consultationSeq], { submitted: 100, eligible: 100, eligpercent: 80, copay: 15, 'patient-share': 32, benefit: 68 },
    'the consultation: the 15 copay (once per claim), then 20 % of the remaining 85');
  t.same(byItem[labSeq], { submitted: 40, eligible: 40, eligpercent: 80, 'patient-share': 8, benefit: 32 }, 'the lab panel: 20 % coinsurance');
  t.same(amounts(response.total), { submitted: 140, eligible: 140, copay: 15, 'patient-share': 40, benefit: 100 });
  t.same(response.payment.amount, eur(100), 'the insurer pays 100');
  t.same(response.insurer, { reference: `Organization/${payer}` });
  const claimRef: string = response.request.reference;
  t.match(claimRef, /^Claim\/[\w-]+$/);
  t.equal(await statusOf(claimRef), 'active', 'the Claim is stored');
  t.equal((await read(`ClaimResponse/${response.id}`)).outcome, 'complete', 'the ClaimResponse is stored');
  t.equal((await call('GET', `ClaimResponse?request=${claimRef}`, 200)).total, 1, 'and found by its request');

  // 7. The payment of the invoice total balances the Invoice.
  t.equal(await statusOf(invoiceRef), 'issued', 'unpaid: still issued');
  const payment = await create({ resourceType: 'PaymentReconciliation', status: 'active', created: iso(Date.now()),
    paymentDate: date(Date.now()), paymentAmount: eur(140), outcome: 'complete', disposition: 'Invoice paid in full',
    detail: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/payment-type', code: 'payment' }] },
      request: { reference: invoiceRef }, amount: eur(140) }] });
  t.equal(await statusOf(`PaymentReconciliation/${payment}`), 'active', 'the payment is recorded');
  const balanced = await read(invoiceRef);
  t.equal(balanced.status, 'balanced', 'paid in full: the Invoice is balanced');
  t.same(balanced.totalGross, eur(140), 'its totals unchanged');

  // The end state of the journey, read back.
  t.same(await Promise.all([apptRef, slotRef, encounterRef, orderRef, reportRef, invoiceRef, `Coverage/${coverage}`].map(statusOf)),
    ['fulfilled', 'busy', 'finished', 'completed', 'final', 'balanced', 'active']);
});
