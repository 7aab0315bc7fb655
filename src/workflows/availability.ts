/**
 * Slots from working patterns (issue #18 §1). A Schedule's pattern is, in this order: its own availability extension
 * (AVAILABILITY_URL, shaped like PractitionerRole.availableTime/notAvailable), else the availableTime/notAvailable of
 * a PractitionerRole or HealthcareService among its actors, else a Location actor's hoursOfOperation. Times of day are
 * wall-clock times in the Schedule's time zone (the core timezone extension, else HEARTH_TIMEZONE).
 *
 * Generation is idempotent: a generated Slot's id is derived from its Schedule and start, and a candidate is skipped
 * when that id was ever used (so a Slot deleted on purpose stays deleted) or when a live Slot of the Schedule already
 * covers part of its time — a booked, held or hand-made Slot is never touched.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import { badRequest, tooCostly } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { lockCriteria, lockKey } from '../storage/criteria-lock.js';
import { type SearchDefinitions, findResources } from '../storage/find.js';
import { type WriteGuard, writeResource } from '../storage/write.js';
import { type AllHooks, localId } from './amend.js';

export const AVAILABILITY_URL = 'http://hearth.dev/fhir/StructureDefinition/availability';
export const TIMEZONE_URL = 'http://hl7.org/fhir/StructureDefinition/timezone';
/** Slot length in minutes: a sub-extension of the availability extension, or on the Schedule itself. */
export const SLOT_MINUTES_URL = 'http://hearth.dev/fhir/StructureDefinition/slot-minutes';
const DEFAULT_SLOT_MINUTES = 30;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_MS = 86_400_000;
const CHUNK = 200;
/** Project limit: the Slots one generation may create (a year of 15-minute working-day slots is ~9,000). */
const MAX_SLOTS = 20_000;

interface Extension { url?: string; extension?: Extension[]; valueCode?: string; valueBoolean?: boolean; valueTime?: string;
  valuePositiveInt?: number; valuePeriod?: { start?: string; end?: string } }
interface AvailableTime { daysOfWeek?: string[]; allDay?: boolean; availableStartTime?: string; availableEndTime?: string }
interface Period { start?: string; end?: string }
export interface ScheduleContent extends Resource {
  active?: boolean; actor?: { reference?: string }[]; planningHorizon?: Period; extension?: Extension[];
  serviceCategory?: unknown[]; serviceType?: unknown[]; specialty?: unknown[];
}

/** A weekly working pattern with its exceptions. */
export interface Pattern {
  available: AvailableTime[];
  notAvailable: { start: number; end: number }[];
  slotMinutes: number;
  timezone: string;
  /** Where the pattern came from, for the operation's answer. */
  source: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes the zone is ahead of UTC at instant ms. */
function offsetMinutes(ms: number, timeZone: string): number {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(timeZone, f);
  }
  const part = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(Number(part.year), Number(part.month) - 1, Number(part.day), Number(part.hour), Number(part.minute), Number(part.second));
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** The instant of wall-clock `time` (hh:mm[:ss]) on local `day` (ms of its UTC midnight) in the zone. */
export function zonedInstant(day: number, time: string, timeZone: string): number {
  const [h = 0, m = 0, s = 0] = time.split(':').map(Number);
  const wall = day + ((h * 60 + m) * 60 + s) * 1000;
  const first = wall - offsetMinutes(wall, timeZone) * 60_000;
  const second = wall - offsetMinutes(first, timeZone) * 60_000; // across a DST change the offset of the result counts
  return second;
}

/** The local calendar day (as ms of that date's UTC midnight) of instant ms in the zone. */
function localDay(ms: number, timeZone: string): number {
  const local = ms + offsetMinutes(ms, timeZone) * 60_000;
  return Math.floor(local / DAY_MS) * DAY_MS;
}

const periodOf = (p: Period | undefined) => {
  const start = p?.start ? Date.parse(p.start) : -Infinity;
  const end = p?.end ? Date.parse(p.end) : Infinity;
  return { start: Number.isNaN(start) ? -Infinity : start, end: Number.isNaN(end) ? Infinity : end };
};

const sub = (ext: Extension, url: string) => (ext.extension ?? []).filter((e) => e?.url === url);

/** The Schedule's own pattern (AVAILABILITY_URL), if it has one. */
function ownPattern(schedule: ScheduleContent): Omit<Pattern, 'timezone'> | undefined {
  const ext = schedule.extension?.find((e) => e?.url === AVAILABILITY_URL);
  if (!ext) return undefined;
  const available = sub(ext, 'availableTime').map((a): AvailableTime => {
    const one = (url: string) => sub(a, url)[0];
    return {
      daysOfWeek: sub(a, 'daysOfWeek').map((d) => String(d.valueCode)),
      ...(one('allDay')?.valueBoolean !== undefined ? { allDay: one('allDay')!.valueBoolean! } : {}),
      ...(one('availableStartTime')?.valueTime ? { availableStartTime: one('availableStartTime')!.valueTime! } : {}),
      ...(one('availableEndTime')?.valueTime ? { availableEndTime: one('availableEndTime')!.valueTime! } : {}),
    };
  });
  const minutes = sub(ext, 'slotMinutes')[0]?.valuePositiveInt;
  return { available, notAvailable: sub(ext, 'notAvailable').map((n) => periodOf(n.valuePeriod)),
    slotMinutes: minutes ?? DEFAULT_SLOT_MINUTES, source: 'the Schedule\'s availability extension' };
}

interface ActorContent extends Resource {
  availableTime?: AvailableTime[]; notAvailable?: { during?: Period }[];
  hoursOfOperation?: { daysOfWeek?: string[]; allDay?: boolean; openingTime?: string; closingTime?: string }[];
}

/** The working pattern of a Schedule, or undefined when neither it nor its actors have one. */
export async function patternOf(tx: Queryable, schema: string, schedule: ScheduleContent, defaultZone: string): Promise<Pattern | undefined> {
  const zone = schedule.extension?.find((e) => e?.url === TIMEZONE_URL)?.valueCode ?? defaultZone;
  try {
    offsetMinutes(Date.now(), zone);
  } catch {
    throw badRequest(`Schedule/${schedule.id}: '${zone}' is not an IANA time zone`, ['Schedule.extension']);
  }
  const own = ownPattern(schedule);
  const minutes = schedule.extension?.find((e) => e?.url === SLOT_MINUTES_URL)?.valuePositiveInt;
  if (own) return { ...own, ...(minutes ? { slotMinutes: minutes } : {}), timezone: zone };
  for (const type of ['PractitionerRole', 'HealthcareService', 'Location']) {
    for (const ref of schedule.actor ?? []) {
      const id = localId(ref?.reference, type);
      if (!id) continue;
      const rows = await tx.query<{ content: ActorContent }>(sql`SELECT type, id, version, ${sealedColumns(schema)}
        FROM ${ident(schema)}.resource WHERE type = ${type} AND id = ${id} AND NOT deleted`);
      const actor = rows[0]?.content;
      const available = type === 'Location'
        ? (actor?.hoursOfOperation ?? []).map((h) => ({ ...h, ...(h.openingTime ? { availableStartTime: h.openingTime } : {}),
          ...(h.closingTime ? { availableEndTime: h.closingTime } : {}) }))
        : actor?.availableTime ?? [];
      if (available.length === 0) continue;
      return { available, notAvailable: (actor?.notAvailable ?? []).map((n) => periodOf(n.during)),
        slotMinutes: minutes ?? DEFAULT_SLOT_MINUTES, timezone: zone, source: `${type}/${id}` };
    }
  }
  return undefined;
}

/** The [start, end) intervals (ms) the pattern opens within [from, to), cut into slots, earliest first. */
export function candidateSlots(pattern: Pattern, from: number, to: number, horizon: Period | undefined,
  max = Infinity): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  const step = pattern.slotMinutes * 60_000;
  const limit = periodOf(horizon);
  for (let day = localDay(from, pattern.timezone) - DAY_MS; day <= localDay(to, pattern.timezone) + DAY_MS; day += DAY_MS) {
    const weekday = DAYS[new Date(day).getUTCDay()]!;
    for (const a of pattern.available) {
      if (a.daysOfWeek && a.daysOfWeek.length > 0 && !a.daysOfWeek.includes(weekday)) continue;
      const open = zonedInstant(day, a.allDay ? '00:00' : a.availableStartTime ?? '00:00', pattern.timezone);
      const close = a.allDay || !a.availableEndTime ? zonedInstant(day + DAY_MS, '00:00', pattern.timezone)
        : zonedInstant(day, a.availableEndTime, pattern.timezone);
      for (let start = open; start + step <= close; start += step) {
        const end = start + step;
        if (start < from || start >= to || start < limit.start || end > limit.end) continue;
        if (pattern.notAvailable.some((n) => start < n.end && end > n.start)) continue;
        out.push({ start, end });
        if (out.length > max) return out; // the caller refuses; no need to count them all
      }
    }
  }
  return out.sort((a, b) => a.start - b.start).filter((c, i, all) => i === 0 || c.start !== all[i - 1]!.start);
}

/** A generated Slot's id: the same Schedule and start always give the same id. */
export function slotId(scheduleId: string, start: number): string {
  return `gen-${crypto.createHash('sha256').update(`${scheduleId}\0${new Date(start).toISOString()}`).digest('hex').slice(0, 32)}`;
}

export interface GenerateDeps { hooks: AllHooks; search: SearchDefinitions; timezone: string }
export interface Generated { created: number; existing: number; source?: string }

/**
 * Creates the free Slots of one Schedule's pattern in [from, to), skipping what exists (see the file's note); the
 * caller's transaction, under a per-Schedule lock so that two nodes generating at once create each Slot once.
 */
export async function generateSlots(tx: Queryable, schema: string, deps: GenerateDeps, scheduleId: string, from: Date, to: Date,
  guard?: WriteGuard): Promise<Generated> {
  await lockCriteria(tx, [lockKey('hearth.slots', schema, scheduleId)]);
  const rows = await tx.query<{ content: ScheduleContent }>(sql`SELECT type, id, version, ${sealedColumns(schema)}
    FROM ${ident(schema)}.resource WHERE type = 'Schedule' AND id = ${scheduleId} AND NOT deleted`);
  const schedule = rows[0]?.content;
  if (!schedule || schedule.active === false) return { created: 0, existing: 0 };
  const pattern = await patternOf(tx, schema, schedule, deps.timezone);
  if (!pattern) return { created: 0, existing: 0 };
  const now = Date.now();
  const candidates = candidateSlots(pattern, Math.max(from.getTime(), now), to.getTime(), schedule.planningHorizon, MAX_SLOTS);
  if (candidates.length > MAX_SLOTS) {
    throw tooCostly(`Schedule/${scheduleId}'s pattern makes more than ${MAX_SLOTS} slots between ${from.toISOString()} and `
      + `${to.toISOString()}: ask for a shorter span`);
  }
  if (candidates.length === 0) return { created: 0, existing: 0, source: pattern.source };
  const ids = candidates.map((c) => slotId(scheduleId, c.start));
  const used = new Set((await tx.query<{ id: string }>(sql`SELECT id FROM ${ident(schema)}.resource
    WHERE type = 'Slot' AND id = ANY(${ids})`)).map((r) => r.id));
  let created = 0;
  let existing = 0;
  // In chunks, so that the Slots already there over a chunk's span fit in one page of the server's own search.
  for (let from = 0; from < candidates.length; from += CHUNK) {
    const chunk = candidates.slice(from, from + CHUNK);
    const live = await findResources(tx, schema, 'Slot', [['schedule', `Schedule/${scheduleId}`],
      ['start', `lt${new Date(chunk[chunk.length - 1]!.end).toISOString()}`], ['start', `ge${new Date(chunk[0]!.start - DAY_MS).toISOString()}`],
      ['status:not', 'entered-in-error'], ['_count', '1000']], deps.search);
    const taken = live.map((v) => v.resource as { start?: string; end?: string })
      .map((x) => ({ start: Date.parse(x.start ?? ''), end: Date.parse(x.end ?? '') }));
    for (const [j, c] of chunk.entries()) {
      const id = ids[from + j]!;
      if (used.has(id) || taken.some((t) => c.start < t.end && c.end > t.start)) {
        existing++;
        continue;
      }
      const resource: Resource = {
        resourceType: 'Slot',
        ...(schedule.serviceCategory ? { serviceCategory: schedule.serviceCategory } : {}),
        ...(schedule.serviceType ? { serviceType: schedule.serviceType } : {}),
        ...(schedule.specialty ? { specialty: schedule.specialty } : {}),
        schedule: { reference: `Schedule/${scheduleId}` },
        status: 'free',
        start: new Date(c.start).toISOString(),
        end: new Date(c.end).toISOString(),
      };
      await writeResource(tx, schema, { type: 'Slot', id, method: 'PUT', resource, createOnly: true }, deps.hooks(), guard);
      created++;
    }
  }
  return { created, existing, source: pattern.source };
}

/** The Schedules the daily job generates for: active ones (their pattern decides whether anything comes of it). */
export async function activeSchedules(q: Queryable, schema: string): Promise<string[]> {
  const s = ident(schema);
  const rows = await q.query<{ id: string }>(sql`SELECT r.id FROM ${s}.resource r
    WHERE r.type = 'Schedule' AND NOT r.deleted AND NOT EXISTS (SELECT 1 FROM ${s}.idx_token t
      WHERE t.rid = r.rid AND t.type = 'Schedule' AND t.param = 'active' AND t.code = 'false') ORDER BY r.id`);
  return rows.map((r) => r.id);
}
