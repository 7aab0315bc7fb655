/**
 * Availability, finding and booking (issue #18 §1–§2): Schedule/$generate-slots from a working pattern (idempotent,
 * booked slots untouched), Appointment/$find over free Slots, $hold and $book, expired holds released.
 */
import t from 'tap';
import { DAY, KOLKATA, nextMonday, weekdayMornings } from './schedule-fixtures.js';
import { type TestServer, startServer } from '../helpers/server.js';
import { generateAllSlots, releaseAllHolds } from '../../src/workflows/tasks.js';

const iso = (ms: number) => new Date(ms).toISOString();

async function create(s: TestServer, body: Record<string, unknown>): Promise<string> {
  const r = await s.request('POST', String(body.resourceType), { body });
  if (r.statusCode !== 201) throw new Error(`${r.statusCode} ${r.body}`);
  return r.json().id;
}


const params = (...p: [string, string][]) => ({ resourceType: 'Parameters', parameter: p.map(([name, v]) => ({ name, valueString: v })) });
const generate = (s: TestServer, schedule: string, start: number, end: number) =>
  s.request('POST', `Schedule/${schedule}/$generate-slots`, { body: { resourceType: 'Parameters', parameter: [
    { name: 'start', valueDateTime: iso(start) }, { name: 'end', valueDateTime: iso(end) }] } });
const value = (r: { json(): { parameter: { name: string; valueInteger?: number; valueString?: string }[] } }, name: string) =>
  r.json().parameter.find((p) => p.name === name)?.valueInteger ?? r.json().parameter.find((p) => p.name === name)?.valueString;

t.test('$generate-slots turns a weekly pattern into slots, idempotently, in the schedule\'s time zone', async (t) => {
  const s = await startServer(t);
  const doctor = await create(s, { resourceType: 'Practitioner', name: [{ family: 'Osler' }] });
  const schedule = await create(s, { resourceType: 'Schedule', active: true, extension: [weekdayMornings, KOLKATA],
    serviceType: [{ coding: [{ system: 'http://snomed.info/sct', code: '11429006', display: 'Consultation' }] }],
    actor: [{ reference: `Practitioner/${doctor}` }] });
  const monday = nextMonday();
  const first = await generate(s, schedule, monday, monday + 7 * DAY);
  t.equal(first.statusCode, 200, first.body);
  t.equal(value(first, 'created'), 30, 'five mornings of six half-hour slots');
  const slots = (await s.request('GET', `Slot?schedule=Schedule/${schedule}&_sort=start&_count=100`)).json().entry.map((e: { resource: unknown }) => e.resource);
  t.equal(slots.length, 30);
  t.equal(slots[0].start, iso(monday + 3.5 * 3_600_000), '09:00 in Kolkata is 03:30 UTC');
  t.equal(slots[0].status, 'free');
  t.same(slots[0].serviceType[0].coding[0].code, '11429006', 'the Schedule\'s service type is copied');

  // Book one, then generate again: nothing new, nothing touched.
  const patient = await create(s, { resourceType: 'Patient', name: [{ family: 'Pat' }] });
  await create(s, { resourceType: 'Appointment', status: 'booked', slot: [{ reference: `Slot/${slots[0].id}` }],
    start: slots[0].start, end: slots[0].end, participant: [{ actor: { reference: `Practitioner/${doctor}` }, status: 'accepted' }, { actor: { reference: `Patient/${patient}` }, status: 'accepted' }] });
  const again = await generate(s, schedule, monday, monday + 7 * DAY);
  t.equal(value(again, 'created'), 0);
  t.equal(value(again, 'existing'), 30);
  const booked = (await s.request('GET', `Slot/${slots[0].id}`)).json();
  t.equal(booked.status, 'busy');
  t.equal(booked.meta.versionId, '2', 'the booked slot was not rewritten');

  // A deleted slot stays deleted; a hand-made slot overlapping a candidate keeps it out.
  t.equal((await s.request('DELETE', `Slot/${slots[1].id}`)).statusCode, 204);
  t.equal(value(await generate(s, schedule, monday, monday + 7 * DAY), 'created'), 0, 'a deleted slot is not re-created');
  const minutely = await create(s, { resourceType: 'Schedule', actor: [{ reference: `Practitioner/${doctor}` }], extension: [{
    url: 'http://hearth.dev/fhir/StructureDefinition/availability', extension: [
      { url: 'availableTime', extension: [{ url: 'allDay', valueBoolean: true }] }, { url: 'slotMinutes', valuePositiveInt: 1 }] }] });
  const flood = await generate(s, minutely, monday, monday + 60 * DAY);
  t.equal(flood.statusCode, 400, 'a pattern of a slot a minute for 60 days (86,400) is refused, not written');
  t.equal(flood.json().issue[0].code, 'too-costly');
  t.equal((await s.request('GET', `Slot?schedule=Schedule/${minutely}&_summary=count`)).json().total, 0);
  const bad = await s.request('POST', `Schedule/${schedule}/$generate-slots`, { body: params(['start', 'tomorrow']) });
  t.equal(bad.statusCode, 400);
  t.equal((await s.request('POST', 'Schedule/nope/$generate-slots', { body: params() })).statusCode, 404);
});

t.test('a PractitionerRole\'s availableTime and notAvailable drive the daily job', async (t) => {
  const monday = nextMonday();
  // The horizon reaches the end of the week after the conference, whatever today's weekday (a fixed 28 days fell short
  // of that Wednesday when the test ran on a Tuesday).
  const horizon = Math.ceil((monday + 14 * DAY - Date.now()) / DAY);
  const s = await startServer(t, { HEARTH_SLOT_HORIZON_DAYS: String(horizon) });
  const doctor = await create(s, { resourceType: 'Practitioner', name: [{ family: 'Role' }] });
  const role = await create(s, { resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${doctor}` },
    availableTime: [{ daysOfWeek: ['wed'], availableStartTime: '14:00:00', availableEndTime: '16:00:00' }],
    notAvailable: [{ description: 'Conference', during: { start: iso(monday), end: iso(monday + 7 * DAY) } }] });
  const schedule = await create(s, { resourceType: 'Schedule', actor: [{ reference: `PractitionerRole/${role}` }],
    extension: [{ url: 'http://hearth.dev/fhir/StructureDefinition/slot-minutes', valuePositiveInt: 60 }] });
  const created = await generateAllSlots(s.deps, [s.slug]);
  t.ok(created >= 6 && created <= 10, `2 one-hour slots a Wednesday for ${horizon} days, less the conference week (${created})`);
  const during = (await s.request('GET', `Slot?schedule=Schedule/${schedule}&start=ge${iso(monday)}&start=lt${iso(monday + 7 * DAY)}&_summary=count`)).json().total;
  t.equal(during, 0, 'none while not available');
  const after = (await s.request('GET', `Slot?schedule=Schedule/${schedule}&start=ge${iso(monday + 7 * DAY)}&start=lt${iso(monday + 14 * DAY)}&_sort=start`)).json();
  t.same(after.entry.map((e: { resource: { start: string } }) => e.resource.start), [iso(monday + 9 * DAY + 14 * 3_600_000), iso(monday + 9 * DAY + 15 * 3_600_000)],
    'Wednesday 14:00 and 15:00 UTC (HEARTH_TIMEZONE defaults to UTC)');
  t.equal(await generateAllSlots(s.deps, [s.slug]), 0, 'the next run creates nothing');
});

t.test('$find proposes, $hold holds, $book books; a taken slot is no longer proposed', async (t) => {
  const s = await startServer(t);
  const doctor = await create(s, { resourceType: 'Practitioner', name: [{ family: 'Find' }] });
  const schedule = await create(s, { resourceType: 'Schedule', extension: [weekdayMornings, KOLKATA], actor: [{ reference: `Practitioner/${doctor}` }] });
  const patient = await create(s, { resourceType: 'Patient', name: [{ family: 'Pat' }] });
  const monday = nextMonday();
  await generate(s, schedule, monday, monday + DAY);
  const find = (more = '') => s.request('GET', `Appointment/$find?practitioner=Practitioner/${doctor}&start=${iso(monday)}&end=${iso(monday + DAY)}&patient=Patient/${patient}${more}`);
  const found = await find();
  t.equal(found.statusCode, 200, found.body);
  t.equal(found.json().total, 6);
  const proposal = found.json().entry[0].resource;
  t.match(proposal, { resourceType: 'Appointment', status: 'proposed', minutesDuration: 30, start: iso(monday + 3.5 * 3_600_000) });
  t.same(proposal.participant.map((p: { actor: { reference: string } }) => p.actor.reference), [`Practitioner/${doctor}`, `Patient/${patient}`]);
  const hour = await find('&duration=60');
  t.equal(hour.json().total, 5, 'an hour needs two consecutive slots: 09:00 … 11:00');
  t.equal(hour.json().entry[0].resource.slot.length, 2);
  t.equal((await s.request('GET', `Appointment/$find?practitioner=Practitioner/${doctor}&start=${iso(monday)}&end=${iso(monday + DAY)}&visit-type=http://snomed.info/sct|999`)).json().total,
    0, 'another visit type finds nothing');

  const held = await s.request('POST', 'Appointment/$hold', { body: { resourceType: 'Parameters', parameter: [{ name: 'appt-resource', resource: proposal }] } });
  t.equal(held.statusCode, 200, held.body);
  const appt = held.json().entry[0].resource;
  t.equal(appt.status, 'pending');
  t.ok(appt.extension.some((e: { url: string }) => e.url === 'http://hearth.dev/fhir/StructureDefinition/hold-until'));
  const slotId = proposal.slot[0].reference;
  t.equal((await s.request('GET', slotId)).json().status, 'busy-tentative');
  t.equal((await find()).json().total, 5, 'a held slot is not proposed');
  const twice = await s.request('POST', 'Appointment/$hold', { body: proposal });
  t.equal(twice.statusCode, 409, 'the same slot cannot be held twice');
  t.match(twice.json().issue[0].diagnostics, new RegExp(`${slotId} is already taken by Appointment/${appt.id}`));

  const booked = await s.request('POST', 'Appointment/$book', { body: params(['appt-id', `Appointment/${appt.id}`]) });
  t.equal(booked.statusCode, 200, booked.body);
  const done = booked.json().entry[0].resource;
  t.equal(done.id, appt.id);
  t.equal(done.status, 'booked');
  t.notOk((done.extension ?? []).some((e: { url: string }) => e.url.endsWith('hold-until')), 'the hold is gone');
  t.equal((await s.request('GET', slotId)).json().status, 'busy');
  t.equal((await s.request('POST', 'Appointment/$book', { body: params(['appt-id', `Appointment/${appt.id}`]) })).statusCode, 400,
    'a booked appointment is not booked again');

  // Bad input
  t.equal((await s.request('GET', `Appointment/$find?start=${iso(monday + DAY)}&end=${iso(monday)}`)).statusCode, 400, 'end before start');
  t.equal((await s.request('GET', 'Appointment/$find?practitioner=Patient/1')).statusCode, 400, 'not a bookable actor');
  const many = Array.from({ length: 101 }, (_, i) => `Practitioner/p${i}`).join(',');
  const flood = await s.request('GET', `Appointment/$find?practitioner=${many}`);
  t.equal(flood.statusCode, 400, 'more than 100 practitioners is refused');
  t.equal(flood.json().issue[0].code, 'too-costly');
  const missing = await s.request('POST', 'Appointment/$book', { body: { ...proposal, slot: [{ reference: 'Slot/nope' }] } });
  t.equal(missing.statusCode, 400);
  t.match(missing.json().issue[0].diagnostics, /Slot\/nope does not exist/);
  t.equal((await s.request('POST', 'Appointment/$book', { body: params(['appt-id', 'Appointment/nope']) })).statusCode, 404);
  t.equal((await s.request('POST', 'Appointment/$book', { body: { ...proposal, slot: undefined } })).statusCode, 400, 'no slot named');
});

t.test('an expired hold counts for nothing and the sweep cancels it', async (t) => {
  const s = await startServer(t);
  const doctor = await create(s, { resourceType: 'Practitioner', name: [{ family: 'Hold' }] });
  const schedule = await create(s, { resourceType: 'Schedule', actor: [{ reference: `Practitioner/${doctor}` }] });
  const start = nextMonday() + 10 * 3_600_000;
  const slot = await create(s, { resourceType: 'Slot', schedule: { reference: `Schedule/${schedule}` }, status: 'free', start: iso(start), end: iso(start + 1_800_000) });
  // A booked or pending Appointment has its start and end (app-3).
  const appt = (until: number, status: string) => ({ resourceType: 'Appointment', status, slot: [{ reference: `Slot/${slot}` }],
    start: iso(start), end: iso(start + 1_800_000),
    participant: [{ actor: { reference: `Practitioner/${doctor}` }, status: 'accepted' }],
    ...(status === 'pending' ? { extension: [{ url: 'http://hearth.dev/fhir/StructureDefinition/hold-until', valueInstant: iso(until) }] } : {}) });
  const held = await create(s, appt(Date.now() + 1000, 'pending'));
  t.equal((await s.request('POST', 'Appointment', { body: appt(0, 'booked') })).statusCode, 409, 'held: taken');
  await new Promise((r) => setTimeout(r, 1200));
  const booking = await s.request('POST', 'Appointment', { body: appt(0, 'booked') });
  t.equal(booking.statusCode, 201, `expired: free to book (${booking.body})`);
  t.equal(await releaseAllHolds(s.deps, [s.slug]), 1);
  const cancelled = (await s.request('GET', `Appointment/${held}`)).json();
  t.equal(cancelled.status, 'cancelled');
  t.match(cancelled.cancelationReason.text, /hold expired/);
  t.equal((await s.request('GET', `Slot/${slot}`)).json().status, 'busy', 'still busy: the booking holds it');
  t.equal(await releaseAllHolds(s.deps, [s.slug]), 0, 'nothing left to release');
});
