/**
 * Booking without double-booking (issue #18 §3), on every write path: an active Appointment takes its Slots and its
 * practitioners', practitioner roles' and locations' time, recorded in the `booking` table in the Appointment's own
 * transaction. A Slot is taken by at most one active Appointment, and one person or place is in at most one active
 * Appointment at a time (409 naming the other Appointment), unless a Slot or its Schedule allows overbooking. Each
 * Slot's status follows in the same transaction: busy when booked, busy-tentative while held ($hold), free again when
 * the Appointment is cancelled, marked noshow or entered in error, moved to other slots, or deleted.
 *
 * Concurrency, optimistically: every write that takes a Slot or a person's or place's time also inserts the next *turn*
 * of each (booking_turn: the greatest turn it read + 1, a unique key), and a Slot's new version is the version it read
 * + 1 (unique too). Two writers that read the same state insert the same keys, so whichever commits second fails and
 * runs again from a fresh read (db/errors.ts GUARDS). A first attempt therefore reads outside its transaction, takes
 * no lock, and stays write-only: concurrent bookings share one statement and one commit, as creates do (group
 * commit). A retry — or a transaction that has read already, or PGlite — takes a transaction-scoped advisory lock per
 * Slot and per person or place before it reads (in key order, so two bookings cannot deadlock), so bookings that lost
 * a race then queue instead of racing again. Of 50 simultaneous bookings of one Slot exactly one succeeds.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { type Deferral, type DeferringTx, deferring } from '../db/deferred.js';
import { type Sql, ident, join, prepared, raw, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import { badRequest, conflict } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { lockCriteria, lockKey, lockStatement } from '../storage/criteria-lock.js';
import { pendingTypes } from '../storage/deferred-writes.js';
import type { Locked } from '../storage/resources.js';
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

const nowParam = (now: Date) => sql`${now.toISOString()}::timestamptz`;
/** A booking row that still counts: a booking, or a hold not yet expired. */
const counts = (now: Date) => sql`(hold_until IS NULL OR hold_until > ${nowParam(now)})`;

interface Claim { slots: string[]; actors: string[]; slotContent: Map<string, SlotResource>; window?: Window; hold?: Date }

interface Other { appointment_id: string; target: string; start_at: Date | null; end_at: Date | null }

/** What one statement reads, under the Appointment's locks: its Slots (row-locked), their Schedules, and the rows of
 * other Appointments that take the same Slots or the same people's time. */
interface Seen {
  slots: Map<string, { content: SlotResource; locked: Locked }>;
  schedules: Map<string, ScheduleResource>;
  taken: Other[];
  overlapping: Other[];
  /** The latest turn of each target (absent: none yet). */
  turns: Map<string, number>;
}

interface SeenRow { kind: 'slot' | 'schedule' | 'taken' | 'overlap' | 'turn'; id: string; rid: number | null; version: number | null;
  last_updated: Date | null; content: Resource | null; target: string | null; start_at: Date | null; end_at: Date | null }

/** Schemas whose look statement is kept prepared (parsed and planned once per connection); more are sent unnamed. */
const MAX_PREPARED_LOOKS = 64;
const preparedLooks = new Set<string>();

/** The look statement of one schema (its text names the schema), prepared under a name derived from the schema. */
function lookStatement(schema: string, statement: Sql): Sql {
  const name = `booking_look_${crypto.createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;
  if (!preparedLooks.has(name)) {
    if (preparedLooks.size >= MAX_PREPARED_LOOKS) return statement;
    preparedLooks.add(name);
  }
  return prepared(name, statement);
}

/**
 * Where the booking's lock and look may run ahead of the transaction's pending writes (db/deferred.ts): when none of
 * those is what they read — booking rows, Slots, Schedules. So a standalone booking's own rows wait and travel with the
 * Slot's new version in the transaction's last statement (one statement fewer to plan and send); in a transaction
 * Bundle that made Slots or bookings before, they are sent first, as any read would.
 */
function readAhead(tx: Queryable): DeferringTx | undefined {
  const d = deferring(tx);
  if (!d || d.pendingOf(BOOKING_ROWS).length > 0) return undefined;
  const types = pendingTypes(tx);
  return types.has('Slot') || types.has('Schedule') ? undefined : d;
}

/** The statement of what a booking reads: its Slots, their Schedules, what else takes them or the same people's time,
 * and the latest turn of each. */
function lookSql(schema: string, id: string, slots: string[], actors: string[], now: Date, span: { lo?: Date; hi?: Date }): Sql {
  const s = ident(schema);
  // Bodies may be encrypted (db/vault.ts): the Slots' Schedules are found by their index rows, the time span is given.
  return lookStatement(schema, sql`WITH s AS (
      SELECT rid, type, id, version, last_updated, ${sealedColumns(schema)} FROM ${s}.resource
      WHERE type = 'Slot' AND id = ANY(${slots}) AND NOT deleted),
    w AS (SELECT ${span.lo?.toISOString() ?? null}::timestamptz AS lo, ${span.hi?.toISOString() ?? null}::timestamptz AS hi)
    SELECT 'slot' AS kind, type, id, rid, version, last_updated, content, sealed, sealed_in, NULL::text AS target,
      NULL::timestamptz AS start_at, NULL::timestamptz AS end_at FROM s
    UNION ALL
    SELECT 'schedule', r.type, r.id, NULL, r.version, NULL, ${sealedColumns(schema, 'r')}, NULL, NULL, NULL FROM ${s}.resource r
      WHERE r.type = 'Schedule' AND NOT r.deleted
        AND r.id IN (SELECT x.ref_id FROM ${s}.idx_reference x WHERE x.rid IN (SELECT rid FROM s) AND x.type = 'Slot'
          AND x.param = 'schedule' AND x.ref_type = 'Schedule')
    UNION ALL
    SELECT 'taken', NULL, appointment_id, NULL, NULL, NULL, NULL, NULL, NULL, target, start_at, end_at FROM ${s}.booking
      WHERE target = ANY(${slots.map((x) => `Slot/${x}`)}) AND appointment_id <> ${id} AND ${counts(now)}
    UNION ALL
    SELECT 'overlap', NULL, b.appointment_id, NULL, NULL, NULL, NULL, NULL, NULL, b.target, b.start_at, b.end_at FROM ${s}.booking b, w
      WHERE b.target = ANY(${actors}) AND b.appointment_id <> ${id} AND ${counts(now)}
        AND b.start_at < w.hi AND b.end_at > w.lo
    UNION ALL
    SELECT 'turn', NULL, target, max(turn), NULL, NULL, NULL, NULL, NULL, target, NULL, NULL FROM ${s}.booking_turn
      WHERE target = ANY(${[...slots.map((x) => `Slot/${x}`), ...actors]}) GROUP BY target`);
}

/**
 * The time the Appointment takes: its start and end (or start + minutesDuration); for one without them (proposed),
 * from its Slots' earliest start to their latest end, read ahead of the look.
 */
async function spanOf(tx: Queryable, schema: string, appt: AppointmentResource, slots: string[]): Promise<{ lo?: Date; hi?: Date }> {
  const start = instant(appt.start);
  const end = instant(appt.end) ?? (start && typeof appt.minutesDuration === 'number'
    ? new Date(start.getTime() + appt.minutesDuration * 60_000) : undefined);
  if ((start && end) || slots.length === 0) return { ...(start ? { lo: start } : {}), ...(end ? { hi: end } : {}) };
  const rows = await tx.query<{ content: SlotResource }>(sql`SELECT type, id, version, ${sealedColumns(schema)} FROM ${ident(schema)}.resource
    WHERE type = 'Slot' AND id = ANY(${slots}) AND NOT deleted`);
  const times = (key: 'start' | 'end') => rows.map((r) => instant(r.content[key])).filter((d): d is Date => d !== undefined)
    .map((d) => d.getTime());
  const lo = start ?? (times('start').length > 0 ? new Date(Math.min(...times('start'))) : undefined);
  const hi = end ?? (times('end').length > 0 ? new Date(Math.max(...times('end'))) : undefined);
  return { ...(lo ? { lo } : {}), ...(hi ? { hi } : {}) };
}

function seenOf(rows: SeenRow[]): Seen {
  const seen: Seen = { slots: new Map(), schedules: new Map(), taken: [], overlapping: [], turns: new Map() };
  for (const r of rows) {
    if (r.kind === 'slot') {
      seen.slots.set(r.id, { content: r.content as SlotResource, locked: { rid: Number(r.rid), version: Number(r.version),
        deleted: false, lastUpdated: new Date(r.last_updated!), resource: r.content! } });
    } else if (r.kind === 'schedule') seen.schedules.set(r.id, r.content as ScheduleResource);
    else if (r.kind === 'turn') seen.turns.set(r.target!, Number(r.rid));
    else (r.kind === 'taken' ? seen.taken : seen.overlapping).push({ appointment_id: r.id, target: r.target!, start_at: r.start_at, end_at: r.end_at });
  }
  const order = (a: Other, b: Other) => (a.target < b.target ? -1 : a.target > b.target ? 1 : a.appointment_id < b.appointment_id ? -1 : 1);
  seen.taken.sort(order);
  seen.overlapping.sort((a, b) => Number(a.start_at) - Number(b.start_at) || order(a, b));
  return seen;
}

/**
 * Reads what the booking needs: outside the transaction on a first attempt that has sent nothing (optimistic, guarded
 * by the turns it writes), else under the advisory locks of its Slots and people, ahead of the transaction's pending
 * writes when none of them is what it reads (readAhead), else after them.
 */
async function look(tx: Queryable, schema: string, statement: Sql, targets: string[]): Promise<Seen> {
  const ahead = readAhead(tx);
  if (ahead && ahead.attempt === 0) {
    const rows = await ahead.readOutside<SeenRow>(statement);
    if (rows) return seenOf(rows);
  }
  const keys = targets.map((t) => lockKey('hearth.booking', schema, t));
  if (ahead) {
    await ahead.queryAhead(lockStatement(keys)!);
    return seenOf(await ahead.queryAhead<SeenRow>(statement));
  }
  await lockCriteria(tx, keys);
  return seenOf(await tx.query<SeenRow>(statement));
}

/** The refusals of §3: a missing, unavailable, past or foreign Slot; a Slot or a person's time already taken. */
function check(appt: AppointmentResource, claim: Claim, seen: Seen, before: Set<string>, now: Date): { overbooking: boolean } {
  const scheduleOf = (slot: SlotResource) => localId(slot.schedule?.reference, 'Schedule');
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
    const scheduleId = scheduleOf(slot);
    const schedule = scheduleId ? seen.schedules.get(scheduleId) : undefined;
    if (schedule?.active === false) throw conflict(`Slot/${slotId} belongs to Schedule/${scheduleId}, which is not active`);
    const owners = exclusiveActors(schedule?.actor);
    if (owners.length > 0 && claim.actors.length > 0 && !owners.some((o) => claim.actors.includes(o))) {
      throw conflict(`Slot/${slotId} belongs to Schedule/${scheduleId} of ${owners.join(', ')}, not to this appointment's `
        + claim.actors.join(', '));
    }
  }
  const overbooking = [...claim.slotContent.values()].some((slot) => flagged(slot) || flagged(seen.schedules.get(scheduleOf(slot) ?? '')));
  if (overbooking) return { overbooking };
  const taken = seen.taken[0];
  if (taken) throw conflict(`${taken.target} is already taken by Appointment/${taken.appointment_id}`);
  const o = claim.window && claim.actors.length > 0 ? seen.overlapping[0] : undefined;
  if (o) {
    throw conflict(`${o.target} is already booked from ${new Date(o.start_at!).toISOString()} to `
      + `${new Date(o.end_at!).toISOString()} by Appointment/${o.appointment_id}`);
  }
  return { overbooking };
}

/** Sets each Slot's status from what takes it now: busy, busy-tentative (held), or free again. `known`: the Slots this
 * Appointment alone takes (no overbooking), whose status needs no count; `locked`: rows already locked. */
async function followSlots(tx: Queryable, schema: string, all: AllHooks, ids: string[], now: Date,
  known: Map<string, 'busy' | 'busy-tentative'>, locked: Map<string, Locked>): Promise<void> {
  const unknown = ids.filter((id) => !known.has(id));
  const rows = unknown.length === 0 ? [] : await tx.query<{ target: string; booked: number; held: number }>(sql`SELECT target,
      count(*) FILTER (WHERE hold_until IS NULL)::int AS booked, count(*) FILTER (WHERE hold_until IS NOT NULL)::int AS held
    FROM ${ident(schema)}.booking WHERE target = ANY(${unknown.map((x) => `Slot/${x}`)}) AND ${counts(now)} GROUP BY target`);
  const taken = new Map(rows.map((r) => [r.target.slice('Slot/'.length), r]));
  for (const [id, status] of known) taken.set(id, { target: `Slot/${id}`, booked: status === 'busy' ? 1 : 0, held: status === 'busy' ? 0 : 1 });
  for (const id of [...ids].sort()) {
    const t = taken.get(id);
    await amend(tx, schema, all, 'Slot', id, (slot: SlotResource) => {
      const status = t ? (t.booked > 0 ? 'busy' : 'busy-tentative')
        : slot.status === 'busy' || slot.status === 'busy-tentative' ? 'free' : slot.status;
      const overbooked = t !== undefined && t.booked + t.held > 1 ? true : slot.overbooked;
      if (status === slot.status && overbooked === slot.overbooked) return undefined;
      return { ...slot, status, ...(overbooked !== undefined ? { overbooked } : {}) };
    }, locked.get(id));
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
  const known = new Map<string, 'busy' | 'busy-tentative'>();
  const locked = new Map<string, Locked>();
  if (active) {
    slots = localIds(appt.slot, 'Slot');
    const actors = participantsOf(appt);
    if (slots.length + actors.length > 0) {
      const targets = [...slots.map((x) => `Slot/${x}`), ...actors];
      const span = await spanOf(tx, schema, appt, slots);
      const seen = await look(tx, schema, lookSql(schema, change.id, slots, actors, now, span), targets);
      const slotContent = new Map([...seen.slots].map(([id, v]) => [id, v.content]));
      const window = windowOf(appt, [...slotContent.values()]);
      const hold = holdUntil(appt);
      const claim: Claim = { slots, actors, slotContent, ...(window ? { window } : {}), ...(hold ? { hold } : {}) };
      if (!change.replay) {
        const { overbooking } = check(appt, claim, seen, new Set(before), now);
        if (!overbooking) for (const id of slots) known.set(id, hold ? 'busy-tentative' : 'busy');
      }
      for (const [id, v] of seen.slots) locked.set(id, v.locked);
      await record(tx, schema, change.id, claim, seen.turns);
    }
  }
  if (change.replay) return;
  const freed = before.filter((t) => t.startsWith('Slot/')).map((t) => t.slice('Slot/'.length));
  await followSlots(tx, schema, all, [...new Set([...freed, ...slots])], now, known, locked);
}

interface BookingRow { kind: 'booking'; schema: string; appointment: string; target: string; start: string | null;
  end: string | null; hold: string | null }
/** The next turn of a target: its insert fails if another writer took that turn first (see above). */
interface TurnRow { kind: 'turn'; schema: string; target: string; turn: number }
type BookingItem = BookingRow | TurnRow;

/** Booking and turn rows wait for the transaction's next statement (db/deferred.ts): nothing reads their answer. */
const BOOKING_ROWS: Deferral<BookingItem> = {
  name: 'booking',
  steps(items, prefix) {
    const bySchema = new Map<string, BookingItem[]>();
    for (const i of items) bySchema.set(i.schema, [...(bySchema.get(i.schema) ?? []), i]);
    return [...bySchema].flatMap(([schema, list], n) => {
      const bookings = list.filter((i): i is BookingRow => i.kind === 'booking');
      const turns = list.filter((i): i is TurnRow => i.kind === 'turn').map(({ target, turn }) => ({ target, turn }));
      return [
        ...(bookings.length === 0 ? [] : [sql`${raw(`${prefix}booking${n}`)} AS (INSERT INTO ${ident(schema)}.booking
          (appointment_id, target, start_at, end_at, hold_until)
          SELECT appointment, target, "start", "end", hold FROM jsonb_to_recordset(${JSON.stringify(bookings)}::jsonb)
            AS x(appointment text, target text, "start" timestamptz, "end" timestamptz, hold timestamptz)
          ON CONFLICT DO NOTHING)`]),
        // No ON CONFLICT: a turn already taken must fail the statement.
        ...(turns.length === 0 ? [] : [sql`${raw(`${prefix}turn${n}`)} AS (INSERT INTO ${ident(schema)}.booking_turn
          (target, turn) SELECT target, turn FROM jsonb_to_recordset(${JSON.stringify(turns)}::jsonb) AS x(target text, turn bigint))`]),
      ];
    });
  },
};

async function record(tx: Queryable, schema: string, id: string, claim: Claim, turns: Map<string, number>): Promise<void> {
  const hold = claim.hold?.toISOString() ?? null;
  const rows: BookingItem[] = [
    ...claim.slots.map((slotId): BookingRow => {
      const slot = claim.slotContent.get(slotId);
      return { kind: 'booking', schema, appointment: id, target: `Slot/${slotId}`, start: instant(slot?.start)?.toISOString() ?? null,
        end: instant(slot?.end)?.toISOString() ?? null, hold };
    }),
    ...claim.actors.map((target): BookingRow => ({ kind: 'booking', schema, appointment: id, target,
      start: claim.window?.start.toISOString() ?? null, end: claim.window?.end.toISOString() ?? null, hold })),
    ...[...new Set([...claim.slots.map((x) => `Slot/${x}`), ...claim.actors])]
      .map((target): TurnRow => ({ kind: 'turn', schema, target, turn: (turns.get(target) ?? 0) + 1 })),
  ];
  const d = deferring(tx);
  if (d) {
    for (const row of rows) await d.defer(BOOKING_ROWS, row);
    return;
  }
  await tx.query(sql`WITH ${join(BOOKING_ROWS.steps(rows, 'now_'), ', ')} SELECT 1`);
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

/** Deletes the turns no writer compares with any more (all but each target's latest); the answer is how many. */
export async function pruneTurns(tx: Queryable, schema: string): Promise<number> {
  const s = ident(schema);
  const rows = await tx.query<{ n: number }>(sql`WITH gone AS (DELETE FROM ${s}.booking_turn t
    USING (SELECT target, max(turn) AS latest FROM ${s}.booking_turn GROUP BY target HAVING count(*) > 1) l
    WHERE t.target = l.target AND t.turn < l.latest RETURNING 1) SELECT count(*)::int AS n FROM gone`);
  return rows[0]?.n ?? 0;
}
