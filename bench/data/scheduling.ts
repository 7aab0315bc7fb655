/**
 * A patient's Schedule, Slots and booked Appointment (issue #18, Proof): the practitioner's diary holds one busy Slot
 * booked by the patient and one free Slot a week later.
 *
 * Layout. Patient `index` books the diary position `index` of a clinic timetable — 20-minute slots from 08:00 to 17:00
 * UTC (27 a day), Monday to Friday, counted from DIARY_START — so no two generated booked Appointments overlap at all,
 * whoever their practitioner (each bundle has its own), and no Slot is shared. The position depends only on the index
 * (the rest on the seed), so bundle i can be generated on its own. 10,000 patients fill about 1.5 years.
 *
 * Why not "just after NOW": the server refuses a `booked` Appointment over a Slot that has ended by its own clock (not
 * the generator's NOW, which is in the past), so the diary starts years ahead, on a fixed date, keeping the bundles the
 * same on every run and machine. They stay loadable until DIARY_START (test/bench/generate.test.ts says when it passes).
 */
import type { Resource } from '../../src/fhir/types.js';
import type { Rng } from './prng.js';
import { SNOMED } from './codes.js';
import { type Json, concept, dateTime, days, instant, ref } from './shapes.js';

/** Monday 1 January 2035, 00:00 UTC: the first day of the generated diary. */
export const DIARY_START = Date.UTC(2035, 0, 1);
export const SLOT_MINUTES = 20;
const DAY_OPENS_HOUR = 8;
export const SLOTS_PER_DAY = 27; // 08:00–17:00
const MINUTE = 60_000;

/** Start (ms) of diary position `n`: the n-th 20-minute working slot from DIARY_START, weekends skipped. */
export function diarySlot(n: number): number {
  const day = Math.floor(n / SLOTS_PER_DAY);
  const calendarDay = Math.floor(day / 5) * 7 + (day % 5);
  return DIARY_START + days(calendarDay) + DAY_OPENS_HOUR * 60 * MINUTE + (n % SLOTS_PER_DAY) * SLOT_MINUTES * MINUTE;
}

const SERVICES: Json[] = [
  concept(SNOMED, '185349003', 'Encounter for check up (procedure)'),
  concept(SNOMED, '698314001', 'Consultation for treatment'),
  concept(SNOMED, '390906007', 'Follow-up encounter (procedure)'),
];
const V2_0276 = 'http://terminology.hl7.org/CodeSystem/v2-0276';
const APPOINTMENT_TYPES = [['ROUTINE', 'Routine appointment - default if not valued'], ['FOLLOWUP', 'A follow up visit from a previous appointment'],
  ['CHECKUP', 'A routine check-up, such as an annual physical']] as const;

export function schedule(practitionerUrn: string, service: Json, from: number): Resource {
  return {
    resourceType: 'Schedule',
    active: true,
    serviceType: [service],
    actor: [ref(practitionerUrn)],
    planningHorizon: { start: dateTime(from), end: dateTime(from + days(28)) },
    comment: 'Weekday clinic, 20-minute appointments',
  };
}

export function slot(scheduleUrn: string, service: Json, start: number, status: 'busy' | 'free'): Resource {
  return {
    resourceType: 'Slot',
    serviceType: [service],
    schedule: ref(scheduleUrn),
    status,
    start: instant(start),
    end: instant(start + SLOT_MINUTES * MINUTE),
  };
}

export interface Booking { patient: string; practitioner: string; slot: string; start: number }

export function appointment(rng: Rng, b: Booking, service: Json, now: number): Resource {
  const [code, display] = rng.pick(APPOINTMENT_TYPES);
  return {
    resourceType: 'Appointment',
    status: 'booked',
    serviceType: [service],
    appointmentType: concept(V2_0276, code, display),
    start: instant(b.start),
    end: instant(b.start + SLOT_MINUTES * MINUTE),
    minutesDuration: SLOT_MINUTES,
    slot: [ref(b.slot)],
    created: dateTime(now),
    participant: [
      { actor: ref(b.patient), required: 'required', status: 'accepted' },
      { actor: ref(b.practitioner), required: 'required', status: 'accepted' },
    ],
  };
}

/** The Schedule, the booked Slot, the Appointment over it and a free Slot a week later, in bundle order. */
export function diary(rng: Rng, index: number, patientUrn: string, practitionerUrn: string, now: number,
  add: (r: Resource) => string): void {
  const service = rng.pick(SERVICES);
  const start = diarySlot(index);
  const scheduleUrn = add(schedule(practitionerUrn, service, start - days(7)));
  const booked = add(slot(scheduleUrn, service, start, 'busy'));
  add(appointment(rng, { patient: patientUrn, practitioner: practitionerUrn, slot: booked, start }, service, now));
  add(slot(scheduleUrn, service, start + days(7), 'free'));
}
