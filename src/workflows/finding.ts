/**
 * Appointment/$find (issue #18 §2; Argonaut Scheduling): proposed Appointments over free Slots. A proposal is one free
 * Slot, or consecutive free Slots of one Schedule when the visit needs longer than one; Slots whose people or places
 * are already booked at that time are left out even if they are free (another Schedule's appointment may take them).
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';
import { type SearchDefinitions, findResources } from '../storage/find.js';
import { localId } from './amend.js';
import type { ScheduleContent } from './availability.js';
import { type SlotResource, exclusiveActors } from './scheduling.js';

export interface FindQuery {
  start: Date;
  end: Date;
  /** Practitioner, PractitionerRole or Location references ('Practitioner/1'); none: every Schedule. */
  actors: string[];
  /** Token search values ('system|code' or 'code') over the Slot's (else the Schedule's) serviceType and specialty. */
  serviceTypes: string[];
  specialties: string[];
  /** The visit's length in minutes; undefined: one Slot. */
  minutes?: number;
  /** Who the appointment is for, added as a participant. */
  patient?: string;
  limit: number;
}

interface Coding { system?: string; code?: string }
interface Concept { coding?: Coding[] }

/** Whether any of the concepts has a coding matching any token value (a value without '|' matches any system). */
function matchesToken(concepts: unknown, tokens: string[]): boolean {
  if (tokens.length === 0) return true;
  const codings = (Array.isArray(concepts) ? concepts as Concept[] : []).flatMap((c) => c?.coding ?? []);
  return tokens.some((token) => {
    const bar = token.indexOf('|');
    const [system, code] = bar < 0 ? [undefined, token] : [token.slice(0, bar), token.slice(bar + 1)];
    return codings.some((c) => c.code === code && (system === undefined || (c.system ?? '') === system));
  });
}

interface Candidate { slot: SlotResource; start: number; end: number; schedule: ScheduleContent & { id: string } }

export async function findAppointments(tx: Queryable, schema: string, search: SearchDefinitions, q: FindQuery): Promise<Resource[]> {
  const scheduleParams: [string, string][] = [['active:not', 'false'], ['_count', '1000']];
  if (q.actors.length > 0) scheduleParams.push(['actor', q.actors.join(',')]);
  const schedules = new Map((await findResources(tx, schema, 'Schedule', scheduleParams, search))
    .map((v) => [v.id, v.resource as ScheduleContent & { id: string }]));
  if (schedules.size === 0) return [];
  const from = Math.max(q.start.getTime(), Date.now());
  const slots = await findResources(tx, schema, 'Slot', [['schedule', [...schedules.keys()].map((id) => `Schedule/${id}`).join(',')],
    ['status', 'free'], ['start', `ge${new Date(from).toISOString()}`], ['start', `lt${q.end.toISOString()}`],
    ['_sort', 'start'], ['_count', '1000']], search);
  const candidates: Candidate[] = [];
  for (const v of slots) {
    const slot = v.resource as SlotResource;
    const schedule = schedules.get(localId(slot.schedule?.reference, 'Schedule') ?? '');
    const start = Date.parse(slot.start ?? '');
    const end = Date.parse(slot.end ?? '');
    if (!schedule || Number.isNaN(start) || Number.isNaN(end) || end <= start) continue;
    if (!matchesToken(slot.serviceType ?? schedule.serviceType, q.serviceTypes)) continue;
    if (!matchesToken(slot.specialty ?? schedule.specialty, q.specialties)) continue;
    candidates.push({ slot: { ...slot, id: v.id }, start, end, schedule });
  }
  const open = await withoutBusyPeople(tx, schema, candidates);
  const proposals: Resource[] = [];
  const bySchedule = new Map<string, Candidate[]>();
  for (const c of open) bySchedule.set(c.schedule.id, [...(bySchedule.get(c.schedule.id) ?? []), c]);
  for (const run of bySchedule.values()) {
    for (let i = 0; i < run.length; i++) {
      const taken = [run[i]!];
      while (q.minutes !== undefined && taken[taken.length - 1]!.end - run[i]!.start < q.minutes * 60_000) {
        const next = run[i + taken.length];
        if (!next || next.start !== taken[taken.length - 1]!.end) break;
        taken.push(next);
      }
      if (q.minutes !== undefined && taken[taken.length - 1]!.end - run[i]!.start < q.minutes * 60_000) continue;
      proposals.push(propose(taken, q));
    }
  }
  return proposals.sort((a, b) => String(a.start).localeCompare(String(b.start))).slice(0, q.limit);
}

/** Drops candidates whose Schedule's people or places are already booked at the time (by any Appointment). */
async function withoutBusyPeople(tx: Queryable, schema: string, candidates: Candidate[]): Promise<Candidate[]> {
  const actors = [...new Set(candidates.flatMap((c) => exclusiveActors(c.schedule.actor)))];
  if (actors.length === 0 || candidates.length === 0) return candidates;
  const from = Math.min(...candidates.map((c) => c.start));
  const to = Math.max(...candidates.map((c) => c.end));
  const busy = await tx.query<{ target: string; start_at: Date; end_at: Date }>(sql`SELECT target, start_at, end_at
    FROM ${ident(schema)}.booking WHERE target = ANY(${actors}) AND start_at < ${new Date(to).toISOString()}::timestamptz
      AND end_at > ${new Date(from).toISOString()}::timestamptz AND (hold_until IS NULL OR hold_until > now())`);
  if (busy.length === 0) return candidates;
  return candidates.filter((c) => {
    const mine = exclusiveActors(c.schedule.actor);
    return !busy.some((b) => mine.includes(b.target) && c.start < new Date(b.end_at).getTime() && c.end > new Date(b.start_at).getTime());
  });
}

function propose(slots: Candidate[], q: FindQuery): Resource {
  const first = slots[0]!;
  const last = slots[slots.length - 1]!;
  const { schedule } = first;
  const serviceType = first.slot.serviceType ?? schedule.serviceType;
  const specialty = first.slot.specialty ?? schedule.specialty;
  return {
    resourceType: 'Appointment',
    status: 'proposed',
    ...(serviceType ? { serviceType } : {}),
    ...(specialty ? { specialty } : {}),
    start: new Date(first.start).toISOString(),
    end: new Date(last.end).toISOString(),
    minutesDuration: Math.round((last.end - first.start) / 60_000),
    slot: slots.map((s) => ({ reference: `Slot/${s.slot.id}` })),
    participant: [
      ...(schedule.actor ?? []).map((actor) => ({ actor, required: 'required', status: 'needs-action' })),
      ...(q.patient ? [{ actor: { reference: q.patient }, required: 'required', status: 'needs-action' }] : []),
    ],
  };
}
