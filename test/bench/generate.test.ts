import t from 'tap';
import type { Bundle } from '../../src/fhir/types.js';
import { DEFAULT_SEED, NOW, countResources, patientBundle } from '../../bench/generate.js';
import { startServer } from '../helpers/server.js';

const TYPES = ['Patient', 'Practitioner', 'Organization', 'Coverage', 'Encounter', 'Observation', 'Condition',
  'Procedure', 'MedicationRequest', 'Immunization', 'Claim', 'ExplanationOfBenefit', 'Schedule', 'Slot', 'Appointment'];

interface Ref { reference: string }
interface Slot { schedule: Ref; status: string; start: string; end: string }
interface Appointment { status: string; start: string; end: string; slot: Ref[]; participant: { actor: Ref }[] }

/** Patient i's practitioner (fullUrl), Schedule, Slots (by fullUrl) and Appointments. */
function diaryOf(i: number) {
  const entries = patientBundle(DEFAULT_SEED, i).bundle.entry ?? [];
  const of = <T>(type: string) => entries.filter((e) => e.resource!.resourceType === type)
    .map((e) => ({ url: e.fullUrl!, r: e.resource as unknown as T }));
  return { practitioner: of('Practitioner')[0]!.url, schedule: of<{ actor: Ref[] }>('Schedule')[0]!.r,
    slots: new Map(of<Slot>('Slot').map((e) => [e.url, e.r])), appointments: of<Appointment>('Appointment').map((e) => e.r) };
}

t.test('the generator is deterministic: the same seed and index give the same bundle', async (t) => {
  t.equal(JSON.stringify(patientBundle(DEFAULT_SEED, 7).bundle), JSON.stringify(patientBundle(DEFAULT_SEED, 7).bundle));
  t.not(JSON.stringify(patientBundle(DEFAULT_SEED, 7).bundle), JSON.stringify(patientBundle(DEFAULT_SEED, 8).bundle));
  t.not(JSON.stringify(patientBundle(1, 7).bundle), JSON.stringify(patientBundle(2, 7).bundle));
});

t.test('twenty patients cover every Synthea resource type the bench needs', async (t) => {
  const { byType } = countResources(DEFAULT_SEED, 20);
  for (const type of TYPES) t.ok((byType[type] ?? 0) > 0, `${type} generated`);
});

t.test('each patient books one Slot of its practitioner\'s Schedule; no two generated bookings overlap', async (t) => {
  const taken: [number, number, number][] = [];
  for (let i = 0; i < 300; i++) {
    const d = diaryOf(i);
    t.equal(d.appointments.length, 1, `patient ${i}: one Appointment`);
    const a = d.appointments[0]!;
    t.equal(a.status, 'booked');
    t.equal(d.schedule.actor[0]!.reference, d.practitioner, 'the Schedule is the practitioner\'s');
    t.ok(a.participant.some((p) => p.actor.reference === d.practitioner), 'the practitioner takes part');
    const slot = d.slots.get(a.slot[0]!.reference)!;
    t.ok(slot, 'its Slot is in the bundle');
    t.equal(slot.status, 'busy');
    t.same([slot.start, slot.end], [a.start, a.end], 'the Appointment spans its Slot');
    t.equal([...d.slots.values()].filter((s) => s.status === 'free').length, 1, 'one free Slot besides');
    taken.push([Date.parse(a.start), Date.parse(a.end), i]);
  }
  taken.sort((x, y) => x[0] - y[0]);
  const overlaps = taken.filter((x, k) => k > 0 && x[0] < taken[k - 1]![1]);
  t.same(overlaps, [], 'no two booked Appointments overlap (whoever the practitioner)');
  const first = taken[0]![0];
  t.ok(first > NOW, 'booked in the future of the generator\'s NOW');
  // The server refuses a booked Appointment over a Slot that has ended by its clock: past DIARY_START, move it on.
  t.ok(first > Date.now(), `the generated diary (from ${new Date(first).toISOString()}) is still ahead of today; `
    + 'if not, move DIARY_START in bench/data/scheduling.ts further on');
});

t.test('generated bundles load as transactions with 200 and every entry 201', async (t) => {
  const s = await startServer(t);
  for (const i of [0, 1, 2, 3]) {
    const g = patientBundle(DEFAULT_SEED, i);
    const res = await s.request('POST', '', { body: g.bundle, headers: { prefer: 'return=minimal' } });
    t.equal(res.statusCode, 200, `bundle ${i} loads: ${res.statusCode === 200 ? '' : res.body.slice(0, 300)}`);
    if (res.statusCode !== 200) continue;
    const out = res.json() as Bundle;
    t.equal(out.entry!.length, g.resources);
    t.same(out.entry!.filter((e) => e.response!.status !== '201 Created' && !e.response!.status.startsWith('201')), []);
    const patient = (await s.request('GET', out.entry![g.patientEntry]!.response!.location!
      .replace(/^.*\/fhir\/[^/]+\//, ''))).json();
    t.equal(patient.name[0].family, g.person.family, 'non-ASCII names survive the round trip');
    const slots = (await s.request('GET', 'Slot?status=busy&_summary=count')).json().total;
    t.equal(slots, i + 1, 'each bundle\'s booked Slot is busy, its free one free');
  }
  const booked = await s.request('GET', 'Appointment?status=booked&_summary=count');
  t.equal(booked.json().total, 4, 'four booked Appointments');
  t.equal((await s.request('GET', 'Slot?status=free&_summary=count')).json().total, 4);
  t.equal((await s.request('GET', 'Slot/_history?_summary=count')).json().total, 8, 'no Slot rewritten by the booking rule');
});
