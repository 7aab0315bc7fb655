/**
 * No double-booking (issue #18 §3) on every write path — POST, PUT, PATCH, DELETE, batch and transaction: a Slot is
 * taken by at most one active Appointment and its status follows in the same transaction; one practitioner or location
 * is in at most one active Appointment at a time; 50 simultaneous bookings of one Slot → exactly one succeeds.
 */
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { releaseAllHolds } from '../../src/workflows/tasks.js';
import { type TestServer, startServer } from '../helpers/server.js';

const HOUR = 3_600_000;
/** A whole hour `hours` from now (slots in the future, whatever the clock). */
const at = (hours: number) => new Date(Math.ceil(Date.now() / HOUR) * HOUR + hours * HOUR).toISOString();

async function create(s: TestServer, body: Record<string, unknown>): Promise<string> {
  const r = await s.request('POST', String(body.resourceType), { body });
  if (r.statusCode !== 201) throw new Error(`${r.statusCode} ${r.body}`);
  return r.json().id;
}

async function setup(s: TestServer, extra: Record<string, unknown> = {}) {
  const doctor = await create(s, { resourceType: 'Practitioner', name: [{ family: 'Osler' }] });
  const patient = await create(s, { resourceType: 'Patient', name: [{ family: 'Pat' }] });
  const schedule = await create(s, { resourceType: 'Schedule', active: true, actor: [{ reference: `Practitioner/${doctor}` }], ...extra });
  const slot = (h: number) => create(s, { resourceType: 'Slot', schedule: { reference: `Schedule/${schedule}` }, status: 'free',
    start: at(h), end: at(h + 0.5) });
  return { doctor, patient, schedule, slot };
}

const appointment = (slot: string | undefined, doctor: string, patient: string, h: number, status = 'booked') => ({
  resourceType: 'Appointment', status, start: at(h), end: at(h + 0.5),
  ...(slot ? { slot: [{ reference: `Slot/${slot}` }] } : {}),
  participant: [{ actor: { reference: `Practitioner/${doctor}` }, status: 'accepted' },
    { actor: { reference: `Patient/${patient}` }, status: 'accepted' }],
});

const slotStatus = async (s: TestServer, id: string) => (await s.request('GET', `Slot/${id}`)).json().status;

t.test('a second booking of a taken Slot is refused with 409 naming the first, and the Slot follows', async (t) => {
  const s = await startServer(t);
  const { doctor, patient, slot } = await setup(s);
  const slot1 = await slot(24);
  const first = await create(s, appointment(slot1, doctor, patient, 24));
  t.equal(await slotStatus(s, slot1), 'busy', 'booked → busy in the same transaction');
  const other = await create(s, { resourceType: 'Patient', name: [{ family: 'Other' }] });
  const second = await s.request('POST', 'Appointment', { body: appointment(slot1, doctor, other, 24) });
  t.equal(second.statusCode, 409, second.body);
  t.equal(second.json().resourceType, 'OperationOutcome');
  t.match(second.json().issue[0].diagnostics, new RegExp(`Slot/${slot1} is already taken by Appointment/${first}`));
  t.equal((await s.request('GET', 'Appointment?_summary=count')).json().total, 1, 'nothing written');

  // Cancellation frees the Slot; then it can be booked again.
  const cancelled = await s.request('PATCH', `Appointment/${first}`, {
    body: [{ op: 'replace', path: '/status', value: 'cancelled' }], headers: { 'content-type': 'application/json-patch+json' } });
  t.equal(cancelled.statusCode, 200, cancelled.body);
  t.equal(await slotStatus(s, slot1), 'free', 'cancelled → free');
  const again = await create(s, appointment(slot1, doctor, other, 24));
  t.equal(await slotStatus(s, slot1), 'busy');
  // noshow frees it too, and a DELETE does.
  const noshow = (await s.request('GET', `Appointment/${again}`)).json();
  t.equal((await s.request('PUT', `Appointment/${again}`, { body: { ...noshow, status: 'noshow' } })).statusCode, 200);
  t.equal(await slotStatus(s, slot1), 'free', 'noshow → free');
  const third = await create(s, appointment(slot1, doctor, patient, 24));
  t.equal((await s.request('DELETE', `Appointment/${third}`)).statusCode, 204);
  t.equal(await slotStatus(s, slot1), 'free', 'deleted → free');
});

t.test('a practitioner in two overlapping appointments is refused, with or without slots', async (t) => {
  const s = await startServer(t);
  const { doctor, patient, slot } = await setup(s);
  const first = await create(s, appointment(await slot(30), doctor, patient, 30));
  const overlap = await s.request('POST', 'Appointment', { body: { ...appointment(undefined, doctor, patient, 30), start: at(30.25), end: at(31) } });
  t.equal(overlap.statusCode, 409, overlap.body);
  t.match(overlap.json().issue[0].diagnostics, new RegExp(`Practitioner/${doctor} is already booked .* by Appointment/${first}`));
  t.equal((await s.request('POST', 'Appointment', { body: { ...appointment(undefined, doctor, patient, 30), start: at(30.5), end: at(31) } })).statusCode,
    201, 'back to back is not an overlap');
  const location = await create(s, { resourceType: 'Location', name: 'Room 1' });
  const inRoom = (h: number) => ({ ...appointment(undefined, doctor, patient, h),
    participant: [{ actor: { reference: `Location/${location}` }, status: 'accepted' }] });
  await create(s, inRoom(40));
  t.equal((await s.request('POST', 'Appointment', { body: inRoom(40) })).statusCode, 409, 'a location cannot be double-booked either');
  const declined = { ...appointment(undefined, doctor, patient, 30), participant: [{ actor: { reference: `Practitioner/${doctor}` }, status: 'declined' }] };
  t.equal((await s.request('POST', 'Appointment', { body: declined })).statusCode, 201, 'a participant who declined takes no time');
  t.equal((await s.request('POST', 'Appointment', { body: appointment(undefined, doctor, patient, 30, 'proposed') })).statusCode, 201,
    'a proposed appointment takes nothing');
});

t.test('bad bookings: a missing, past or foreign Slot', async (t) => {
  const s = await startServer(t);
  const { doctor, patient, slot } = await setup(s);
  const missing = await s.request('POST', 'Appointment', { body: appointment('no-such-slot', doctor, patient, 50) });
  t.equal(missing.statusCode, 400, missing.body);
  t.match(missing.json().issue[0], { diagnostics: /Slot\/no-such-slot does not exist/, expression: ['Appointment.slot[0]'] });
  const past = await slot(-48);
  const inPast = await s.request('POST', 'Appointment', { body: appointment(past, doctor, patient, -48) });
  t.equal(inPast.statusCode, 409, inPast.body);
  t.match(inPast.json().issue[0].diagnostics, /a past slot cannot be booked/);
  t.equal((await s.request('POST', 'Appointment', { body: appointment(past, doctor, patient, -48, 'fulfilled') })).statusCode, 201,
    'a past visit may still be recorded as it happened');
  const colleague = await create(s, { resourceType: 'Practitioner', name: [{ family: 'Other' }] });
  const foreign = await s.request('POST', 'Appointment', { body: appointment(await slot(60), colleague, patient, 60) });
  t.equal(foreign.statusCode, 409);
  t.match(foreign.json().issue[0].diagnostics, new RegExp(`belongs to Schedule/.* of Practitioner/${doctor}`));
  t.equal((await s.request('GET', 'Appointment?status=booked&_summary=count')).json().total, 0, 'nothing booked');
});

t.test('a transaction that double-books is rolled back whole; a batch refuses only the second entry', async (t) => {
  const s = await startServer(t);
  const { doctor, patient, slot } = await setup(s);
  const slot1 = await slot(70);
  const post = (body: unknown) => ({ resource: body, request: { method: 'POST', url: 'Appointment' } });
  const tx = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction',
    entry: [post(appointment(slot1, doctor, patient, 70)), post(appointment(slot1, doctor, patient, 70))] } });
  t.equal(tx.statusCode, 409, tx.body);
  t.equal((await s.request('GET', 'Appointment?_summary=count')).json().total, 0, 'nothing written');
  t.equal(await slotStatus(s, slot1), 'free', 'the Slot is untouched');
  const batch = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'batch',
    entry: [post(appointment(slot1, doctor, patient, 70)), post(appointment(slot1, doctor, patient, 70))] } });
  t.equal(batch.statusCode, 200);
  t.same(batch.json().entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3)), ['201', '409']);
  t.equal(await slotStatus(s, slot1), 'busy');
});

t.test('moving an appointment to another slot frees the first', async (t) => {
  const s = await startServer(t);
  const { doctor, patient, slot } = await setup(s);
  const [a, b] = [await slot(80), await slot(81)];
  const id = await create(s, appointment(a, doctor, patient, 80));
  const moved = await s.request('PUT', `Appointment/${id}`, { body: { ...appointment(b, doctor, patient, 81), id } });
  t.equal(moved.statusCode, 200, moved.body);
  t.equal(await slotStatus(s, a), 'free');
  t.equal(await slotStatus(s, b), 'busy');
  t.equal((await s.request('GET', `Slot/${b}/_history`)).json().total, 2, 'one version for the status change');
});

t.test('a Schedule that allows overbooking takes a second booking and marks the Slot overbooked', async (t) => {
  const s = await startServer(t);
  const { doctor, patient, slot } = await setup(s, {
    extension: [{ url: 'http://hearth.dev/fhir/StructureDefinition/overbooking-allowed', valueBoolean: true }] });
  const slot1 = await slot(90);
  await create(s, appointment(slot1, doctor, patient, 90));
  t.equal((await s.request('POST', 'Appointment', { body: appointment(slot1, doctor, patient, 90) })).statusCode, 201);
  const stored = (await s.request('GET', `Slot/${slot1}`)).json();
  t.equal(stored.status, 'busy');
  t.equal(stored.overbooked, true);
});

t.test('50 simultaneous bookings of one Slot: exactly one succeeds', async (t) => {
  const s = await startServer(t);
  const { doctor, slot } = await setup(s);
  const slot1 = await slot(100);
  const patients = await Promise.all(Array.from({ length: 50 }, (_, i) => create(s, { resourceType: 'Patient', name: [{ family: `P${i}` }] })));
  const replies = await Promise.all(patients.map((p) => s.request('POST', 'Appointment', { body: appointment(slot1, doctor, p, 100) })));
  const codes = replies.map((r) => r.statusCode);
  t.equal(codes.filter((c) => c === 201).length, 1, 'one booking');
  t.equal(codes.filter((c) => c === 409).length, 49, 'every other one is a conflict');
  t.equal((await s.request('GET', `Appointment?slot=Slot/${slot1}&status=booked&_summary=count`)).json().total, 1);
  t.equal(await slotStatus(s, slot1), 'busy');
});

t.test('simultaneous bookings of one practitioner at separate times all succeed (a lost race runs again under locks)', async (t) => {
  const s = await startServer(t);
  const { doctor, slot } = await setup(s);
  const hours = Array.from({ length: 12 }, (_, i) => 200 + i);
  const slots = await Promise.all(hours.map((h) => slot(h)));
  const patients = await Promise.all(hours.map((_, i) => create(s, { resourceType: 'Patient', name: [{ family: `Q${i}` }] })));
  const replies = await Promise.all(slots.map((id, i) => s.request('POST', 'Appointment', { body: appointment(id, doctor, patients[i]!, hours[i]!) })));
  t.same(replies.map((r) => r.statusCode), hours.map(() => 201), replies.filter((r) => r.statusCode !== 201).map((r) => r.body).join('\n'));
  t.same(await Promise.all(slots.map((id) => slotStatus(s, id))), hours.map(() => 'busy'));
});

t.test('simultaneous overlapping bookings of one practitioner without slots: exactly one succeeds', async (t) => {
  const s = await startServer(t);
  const { doctor, patient } = await setup(s);
  const replies = await Promise.all(Array.from({ length: 20 }, () =>
    s.request('POST', 'Appointment', { body: appointment(undefined, doctor, patient, 300) })));
  const codes = replies.map((r) => r.statusCode);
  t.equal(codes.filter((c) => c === 201).length, 1, 'one booking');
  t.equal(codes.filter((c) => c === 409).length, 19, 'every other one is a conflict');
  const winner = replies.find((r) => r.statusCode === 201)!.json().id;
  t.match(replies.find((r) => r.statusCode === 409)!.body, `Appointment/${winner}`, 'the conflict names the booking that won');
});

t.test('booking turns: the hold task prunes all but the latest turn of each target', async (t) => {
  const s = await startServer(t);
  const { doctor, patient, slot } = await setup(s);
  for (const h of [400, 401, 402]) {
    t.equal((await s.request('POST', 'Appointment', { body: appointment(await slot(h), doctor, patient, h) })).statusCode, 201);
  }
  const turns = () => s.deps.db.query<{ turn: number }>(sql`SELECT turn FROM ${ident(schemaFor(s.slug))}.booking_turn
    WHERE target = ${`Practitioner/${doctor}`} ORDER BY turn`);
  t.same((await turns()).map((r) => Number(r.turn)), [1, 2, 3], "one turn per booking of the practitioner's time");
  await releaseAllHolds(s.deps, [s.slug]);
  t.same((await turns()).map((r) => Number(r.turn)), [3], 'the latest turn is kept');
  t.equal((await s.request('POST', 'Appointment', { body: appointment(await slot(403), doctor, patient, 403) })).statusCode, 201);
  t.same((await turns()).map((r) => Number(r.turn)), [3, 4], 'the next booking takes the next turn');
});
