/**
 * Booking without double-booking (issue #18 §3), on every write path: an active Appointment takes its Slots and its
 * practitioners', practitioner roles' and locations' time, recorded in the `booking` table in the Appointment's own
 * transaction. A Slot is taken by at most one active Appointment, and one person or place is in at most one active
 * Appointment at a time (409 naming the other Appointment), unless a Slot or its Schedule allows overbooking. Each
 * Slot's status follows in the same transaction: busy when booked, busy-tentative while held ($hold), free again when
 * the Appointment is cancelled, marked noshow or entered in error, moved to other slots, or deleted.
 *
 * Concurrency: the writer takes a transaction-scoped advisory lock per Slot and per person or place before it looks
 * (in key order, so two bookings cannot deadlock); at READ COMMITTED its check is a later statement than the lock and
 * sees what the previous holder committed — of 50 simultaneous bookings of one Slot exactly one succeeds.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { badRequest, conflict } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { lockCriteria } from '../storage/criteria-lock.js';
import type { Change, WriteHook } from '../storage/write.js';
import { type AllHooks, amend, localId, localIds } from './amend.js';

/** On a `pending` Appointment made by $hold: until when it holds its Slots (valueInstant). */
export const HOLD_UNTIL_URL = 'http://hearth.dev/fhir/StructureDefinition/hold-until';
/** On a Slot or a Schedule, valueBoolean true: its slots may be booked more than once. */
export const OVERBOOKING_URL = 'http://hearth.dev/fhir/StructureDefinition/overbooking-allowed';

/** The Appointment statuses that take slots and time (R4 appointmentstatus); the others free them. */
export const ACTIVE_STATUSES = ['pending', 'booked', 'arrived', 'fulfilled', 'checked-in'];
const ACTIVE = new Set(ACTIVE_STATUSES);
/** Participants that cannot be in two appointments at once. */
const EXCLUSIVE = ['Practitioner', 'PractitionerRole', 'Location'];
/** A newly taken Slot must still lie ahead for these statuses (a past visit may be recorded as arrived or fulfilled). */
const FORWARD = new Set(['pending', 'booked']);

interface Extension { url?: string; valueBoolean?: boolean; valueInstant?: string; valueDateTime?: string }
interface Participant { actor?: { reference?: string }; status?: string }
export interface AppointmentResource extends Resource {
  status?: string; start?: string; end?: string; minutesDuration?: number;
  slot?: { reference?: string }[]; participant?: Participant[]; extension?: Extension[];
}
export interface SlotResource extends Resource {
  status?: string; start?: string; end?: string; overbooked?: boolean; schedule?: { reference?: string }; extension?: Extension[];
}
interface ScheduleResource extends Resource { active?: boolean; actor?: { reference?: string }[]; extension?: Extension[] }

interface Window { start: Date; end: Date }

/** The advisory lock key of one bookable target of a tenant. */
function lockKey(schema: string, target: string): string {
  return crypto.createHash('sha256').update(`hearth.booking\0${schema}\0${target}`).digest().readBigInt64BE(0).toString();
}

/** 'Practitioner/1', 'Location/2' … of the participants who have not declined, without repeats. */
export function exclusiveActors(refs: { reference?: string }[] | undefined): string[] {
  const out = new Set<string>();
  for (const r of refs ?? []) {
    for (const type of EXCLUSIVE) {
      const id = localId(r?.reference, type);
      if (id !== undefined) out.add(`${type}/${id}`);
    }
  }
  return [...out];
}

const participantsOf = (appt: AppointmentResource) =>
  exclusiveActors((appt.participant ?? []).filter((p) => p?.status !== 'declined').map((p) => p?.actor ?? {}));

const flagged = (r: { extension?: Extension[] } | undefined) =>
  r?.extension?.some((e) => e?.url === OVERBOOKING_URL && e.valueBoolean === true) === true;

/** Until when a $hold holds: only a pending Appointment holds, and only with the extension. */
export function holdUntil(appt: AppointmentResource): Date | undefined {
  if (appt.status !== 'pending') return undefined;
  const ext = appt.extension?.find((e) => e?.url === HOLD_UNTIL_URL);
  const at = Date.parse(ext?.valueInstant ?? ext?.valueDateTime ?? '');
  return Number.isNaN(at) ? undefined : new Date(at);
}

const instant = (value: unknown): Date | undefined => {
  const at = typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isNaN(at) ? undefined : new Date(at);
};

/** When the Appointment takes place: its own start and end, else its slots' span (or start + minutesDuration). */
function windowOf(appt: AppointmentResource, slots: SlotResource[]): Window | undefined {
  const starts = slots.map((s) => instant(s.start)).filter((d): d is Date => d !== undefined);
  const ends = slots.map((s) => instant(s.end)).filter((d): d is Date => d !== undefined);
  const start = instant(appt.start) ?? (starts.length ? new Date(Math.min(...starts.map(Number))) : undefined);
  const end = instant(appt.end) ?? (ends.length ? new Date(Math.max(...ends.map(Number)))
    : start && typeof appt.minutesDuration === 'number' ? new Date(start.getTime() + appt.minutesDuration * 60_000) : undefined);
  return start && end && end > start ? { start, end } : undefined;
}

async function current<T extends Resource>(tx: Queryable, schema: string, type: string, ids: string[]): Promise<Map<string, T>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.query<{ id: string; content: T }>(sql`SELECT id, content FROM ${ident(schema)}.resource
    WHERE type = ${type} AND id = ANY(${ids}) AND NOT deleted`);
  return new Map(rows.map((r) => [r.id, r.content]));
}

const nowParam = (now: Date) => sql`${now.toISOString()}::timestamptz`;
/** A booking row that still counts: a booking, or a hold not yet expired. */
const counts = (now: Date) => sql`(hold_until IS NULL OR hold_until > ${nowParam(now)})`;

interface Claim { slots: string[]; actors: string[]; slotContent: Map<string, SlotResource>; window?: Window; hold?: Date }

/** The refusals of §3: a missing, unavailable, past or foreign Slot; a Slot or a person's time already taken. */
async function check(tx: Queryable, schema: string, id: string, appt: AppointmentResource, claim: Claim, before: Set<string>,
  now: Date): Promise<void> {
  const schedules = await current<ScheduleResource>(tx, schema, 'Schedule',
    [...new Set([...claim.slotContent.values()].map((s) => localId(s.schedule?.reference, 'Schedule')).filter((x): x is string => !!x))]);
  for (const [i, slotId] of claim.slots.entries()) {
    const slot = claim.slotContent.get(slotId);
    const at = `Appointment.slot[${i}]`;
    if (!slot) throw badRequest(`Slot/${slotId} does not exist`, [at]);
    if (before.has(`Slot/${slotId}`)) continue; // already this Appointment's: only newly taken slots are checked
    if (slot.status === 'busy-unavailable' || slot.status === 'entered-in-error') {
      throw conflict(`Slot/${slotId} is ${slot.status} and cannot be booked`);
    }
    const end = instant(slot.end);
    if (FORWARD.has(String(appt.status)) && end && end <= now) {
      throw conflict(`Slot/${slotId} ended at ${slot.end}: a past slot cannot be booked`);
    }
    const scheduleId = localId(slot.schedule?.reference, 'Schedule');
    const schedule = scheduleId ? schedules.get(scheduleId) : undefined;
    if (schedule?.active === false) throw conflict(`Slot/${slotId} belongs to Schedule/${scheduleId}, which is not active`);
    const owners = exclusiveActors(schedule?.actor);
    if (owners.length > 0 && claim.actors.length > 0 && !owners.some((o) => claim.actors.includes(o))) {
      throw conflict(`Slot/${slotId} belongs to Schedule/${scheduleId} of ${owners.join(', ')}, not to this appointment's `
        + claim.actors.join(', '));
    }
  }
  const overbooking = [...claim.slotContent.values()].some((slot) =>
    flagged(slot) || flagged(schedules.get(localId(slot.schedule?.reference, 'Schedule') ?? '')));
  if (overbooking) return;
  const s = ident(schema);
  if (claim.slots.length > 0) {
    const taken = await tx.query<{ appointment_id: string; target: string }>(sql`SELECT appointment_id, target FROM ${s}.booking
      WHERE target = ANY(${claim.slots.map((x) => `Slot/${x}`)}) AND appointment_id <> ${id} AND ${counts(now)}
      ORDER BY target, appointment_id LIMIT 1`);
    if (taken[0]) throw conflict(`${taken[0].target} is already taken by Appointment/${taken[0].appointment_id}`);
  }
  if (claim.window && claim.actors.length > 0) {
    const { start, end } = claim.window;
    const overlap = await tx.query<{ appointment_id: string; target: string; start_at: Date; end_at: Date }>(sql`SELECT
        appointment_id, target, start_at, end_at FROM ${s}.booking
      WHERE target = ANY(${claim.actors}) AND appointment_id <> ${id} AND ${counts(now)}
        AND start_at < ${nowParam(end)} AND end_at > ${nowParam(start)}
      ORDER BY start_at, appointment_id LIMIT 1`);
    const o = overlap[0];
    if (o) {
      throw conflict(`${o.target} is already booked from ${new Date(o.start_at).toISOString()} to `
        + `${new Date(o.end_at).toISOString()} by Appointment/${o.appointment_id}`);
    }
  }
}

/** Sets each Slot's status from what takes it now: busy, busy-tentative (held), or free again. */
async function followSlots(tx: Queryable, schema: string, all: AllHooks, ids: string[], now: Date): Promise<void> {
  if (ids.length === 0) return;
  const rows = await tx.query<{ target: string; booked: number; held: number }>(sql`SELECT target,
      count(*) FILTER (WHERE hold_until IS NULL)::int AS booked, count(*) FILTER (WHERE hold_until IS NOT NULL)::int AS held
    FROM ${ident(schema)}.booking WHERE target = ANY(${ids.map((x) => `Slot/${x}`)}) AND ${counts(now)} GROUP BY target`);
  const taken = new Map(rows.map((r) => [r.target.slice('Slot/'.length), r]));
  for (const id of [...ids].sort()) {
    const t = taken.get(id);
    await amend(tx, schema, all, 'Slot', id, (slot: SlotResource) => {
      const status = t ? (t.booked > 0 ? 'busy' : 'busy-tentative')
        : slot.status === 'busy' || slot.status === 'busy-tentative' ? 'free' : slot.status;
      const overbooked = t !== undefined && t.booked + t.held > 1 ? true : slot.overbooked;
      if (status === slot.status && overbooked === slot.overbooked) return undefined;
      return { ...slot, status, ...(overbooked !== undefined ? { overbooked } : {}) };
    });
  }
}

async function onAppointment(tx: Queryable, schema: string, all: AllHooks, change: Change): Promise<void> {
  const s = ident(schema);
  const appt = change.resource as AppointmentResource | undefined;
  const before = change.isNew ? [] : (await tx.query<{ target: string }>(sql`DELETE FROM ${s}.booking
    WHERE appointment_id = ${change.id} RETURNING target`)).map((r) => r.target);
  const active = appt !== undefined && ACTIVE.has(String(appt.status));
  const now = new Date();
  let slots: string[] = [];
  if (active) {
    slots = localIds(appt.slot, 'Slot');
    const actors = participantsOf(appt);
    if (slots.length + actors.length > 0) {
      await lockCriteria(tx, [...slots.map((x) => `Slot/${x}`), ...actors].map((t) => lockKey(schema, t)));
      const slotContent = await current<SlotResource>(tx, schema, 'Slot', slots);
      const window = windowOf(appt, [...slotContent.values()]);
      const hold = holdUntil(appt);
      const claim: Claim = { slots, actors, slotContent, ...(window ? { window } : {}), ...(hold ? { hold } : {}) };
      if (!change.replay) await check(tx, schema, change.id, appt, claim, new Set(before), now);
      await record(tx, schema, change.id, claim);
    }
  }
  if (change.replay) return;
  const freed = before.filter((t) => t.startsWith('Slot/')).map((t) => t.slice('Slot/'.length));
  await followSlots(tx, schema, all, [...new Set([...freed, ...slots])], now);
}

async function record(tx: Queryable, schema: string, id: string, claim: Claim): Promise<void> {
  const targets: string[] = [];
  const starts: (string | null)[] = [];
  const ends: (string | null)[] = [];
  for (const slotId of claim.slots) {
    const slot = claim.slotContent.get(slotId);
    targets.push(`Slot/${slotId}`);
    starts.push(instant(slot?.start)?.toISOString() ?? null);
    ends.push(instant(slot?.end)?.toISOString() ?? null);
  }
  for (const actor of claim.actors) {
    targets.push(actor);
    starts.push(claim.window?.start.toISOString() ?? null);
    ends.push(claim.window?.end.toISOString() ?? null);
  }
  await tx.query(sql`INSERT INTO ${ident(schema)}.booking (appointment_id, target, start_at, end_at, hold_until)
    SELECT ${id}, t, s, e, ${claim.hold?.toISOString() ?? null}::timestamptz
    FROM unnest(${targets}::text[], ${starts}::timestamptz[], ${ends}::timestamptz[]) AS k(t, s, e)
    ON CONFLICT DO NOTHING`);
}

export function schedulingHook(all: AllHooks): WriteHook {
  return async (tx, schema, change) => {
    if (change.type === 'Appointment') await onAppointment(tx, schema, all, change);
  };
}

/**
 * Cancels the held (pending) Appointments whose $hold expired, which frees their Slots; the answer is how many. Expired
 * holds already count for nothing in the checks above — this makes the Appointments and Slots say so.
 */
export async function releaseExpiredHolds(tx: Queryable, schema: string, all: AllHooks, now = new Date()): Promise<number> {
  const rows = await tx.query<{ appointment_id: string }>(sql`SELECT DISTINCT appointment_id FROM ${ident(schema)}.booking
    WHERE hold_until <= ${nowParam(now)} ORDER BY appointment_id LIMIT 1000`);
  let released = 0;
  for (const { appointment_id: id } of rows) {
    const written = await amend(tx, schema, all, 'Appointment', id, (appt: AppointmentResource) => {
      const until = holdUntil(appt);
      if (!until || until > now) return undefined;
      return { ...appt, status: 'cancelled', cancelationReason: { text: `The hold expired at ${until.toISOString()}` } };
    });
    if (written) released++;
  }
  return released;
}
