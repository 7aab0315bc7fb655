/**
 * Finding and booking (issue #18 §1–§2) after the HL7 Argonaut Scheduling IG: Appointment/$find proposes, $hold holds
 * for HEARTH_HOLD_MINUTES, $book books; Schedule/$generate-slots (conformance/OperationDefinition-generate-slots.json)
 * makes Slots from a working pattern. Holds and bookings are ordinary Appointment creates and updates (validated,
 * scope-checked, audited), so the rules of src/workflows/scheduling.ts decide: a Slot taken meanwhile is a 409 here as
 * on any other path.
 */
import { badRequest, methodNotAllowed, notFound, tooCostly } from '../errors.js';
import { bundle } from '../fhir/bundle.js';
import type { Resource } from '../fhir/types.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { type Context, type Deps, inTransaction, writeGuard } from '../interactions/context.js';
import { create } from '../interactions/create.js';
import { update } from '../interactions/update.js';
import { readCurrent } from '../storage/resources.js';
import { localId } from '../workflows/amend.js';
import { generateSlots } from '../workflows/availability.js';
import { findAppointments } from '../workflows/finding.js';
import { type AppointmentResource, HOLD_UNTIL_URL } from '../workflows/scheduling.js';
import { type OperationInputs, operationInputs } from './parameters.js';

const DAY = 86_400_000;
/** Project limits: how far one $find or $generate-slots call may look. */
const MAX_FIND_DAYS = 92;
const MAX_GENERATE_DAYS = 366;
const BOOKABLE = ['Practitioner', 'PractitionerRole', 'Location'];

function instantParam(p: OperationInputs, name: string): Date | undefined {
  const raw = p.one(name);
  if (raw === undefined) return undefined;
  // A date alone means its start (UTC); a dateTime needs its offset to name one instant.
  const at = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? Date.parse(`${raw}T00:00:00Z`)
    : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(at)) throw badRequest(`${name} must be a date or a dateTime with a time zone, not '${raw}'`, [name]);
  return new Date(at);
}

function span(p: OperationInputs, defaultDays: number, maxDays: number): { start: Date; end: Date } {
  const start = instantParam(p, 'start') ?? new Date();
  const end = instantParam(p, 'end') ?? new Date(start.getTime() + defaultDays * DAY);
  if (end <= start) throw badRequest('end must be after start', ['end']);
  if (end.getTime() - start.getTime() > maxDays * DAY) throw badRequest(`start to end may span at most ${maxDays} days`, ['end']);
  return { start, end };
}

/** Project limit: values of one $find parameter (practitioners, visit types …). */
const MAX_VALUES = 100;

function list(values: string[], name = 'a parameter'): string[] {
  const all = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (all.length > MAX_VALUES) throw tooCostly(`$find takes at most ${MAX_VALUES} values of ${name}, not ${all.length}`);
  return all;
}

function positive(p: OperationInputs, name: string, max: number): number | undefined {
  const raw = p.one(name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw badRequest(`${name} must be a whole number from 1 to ${max}`, [name]);
  return Number(raw);
}

/** GET or POST Appointment/$find: a searchset of proposed Appointments, earliest first. */
export async function findOperation(deps: Deps, ctx: Context, req: FhirRequest): Promise<FhirResult> {
  if (req.method !== 'GET' && req.method !== 'POST') throw methodNotAllowed('$find is invoked with GET or POST');
  ctx.access?.require('Schedule', 's');
  ctx.access?.require('Slot', 's');
  const p = operationInputs(req);
  const { start, end } = span(p, 7, MAX_FIND_DAYS);
  const actors = list([...p.all('provider'), ...p.all('practitioner'), ...p.all('location'), ...p.all('actor')], 'practitioner and location');
  for (const a of actors) {
    if (!BOOKABLE.some((type) => localId(a, type) !== undefined)) {
      throw badRequest(`'${a}' is not a reference to a Practitioner, PractitionerRole or Location`, ['provider']);
    }
  }
  const patient = p.one('patient') ?? p.one('patient-reference');
  if (patient !== undefined && localId(patient, 'Patient') === undefined) throw badRequest(`'${patient}' is not a Patient reference`, ['patient']);
  const minutes = positive(p, 'duration', 24 * 60);
  const proposals = await findAppointments(ctx.tx ?? deps.db, ctx.tenant.schema, { registry: ctx.search, defs: deps.defs, base: ctx.base }, {
    start, end, actors, serviceTypes: list([...p.all('visit-type'), ...p.all('service-type')], 'visit-type'),
    specialties: list(p.all('specialty'), 'specialty'),
    ...(minutes !== undefined ? { minutes } : {}), ...(patient !== undefined ? { patient } : {}),
    limit: positive(p, '_count', 1000) ?? 50,
  });
  return { status: 200, body: bundle('searchset', proposals.map((resource) => ({ resource, search: { mode: 'match' } })),
    { self: `${ctx.base}/Appointment/$find` },
    proposals.length) };
}

type Step = 'hold' | 'book';

/** The Appointment to hold or book: a stored one by reference (appt-id), or a proposal (appt-resource, or the body). */
async function target(deps: Deps, ctx: Context, p: OperationInputs, step: Step): Promise<{ id?: string; appt: AppointmentResource }> {
  const ref = p.one('appt-id') ?? p.one('appointment-reference');
  const given = p.resource('appt-resource') ?? p.resource('appointment-resource');
  if ((ref === undefined) === (given === undefined)) {
    throw badRequest(`$${step} takes one Appointment: appt-id (a reference to a stored one) or appt-resource (a proposal from $find)`);
  }
  if (given) {
    if (given.resourceType !== 'Appointment') throw badRequest('appt-resource must be an Appointment', ['appt-resource']);
    return { appt: given as AppointmentResource };
  }
  const id = localId(ref, 'Appointment');
  if (!id) throw badRequest(`appt-id must reference an Appointment, not '${ref}'`, ['appt-id']);
  ctx.access?.require('Appointment', 'r');
  const stored = await readCurrent(ctx.tx ?? deps.db, ctx.tenant.schema, 'Appointment', id);
  if (!stored || stored.deleted || !stored.resource) throw notFound('Appointment', id);
  return { id, appt: stored.resource as AppointmentResource };
}

/** Appointment/$hold and Appointment/$book: the held or booked Appointment in a Bundle, as the Argonaut IG answers. */
export async function holdOrBookOperation(deps: Deps, ctx: Context, req: FhirRequest, step: Step): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed(`$${step} is invoked with POST`);
  const p = operationInputs(req, 'Appointment', 'appt-resource');
  const { id, appt } = await target(deps, ctx, p, step);
  // Holding a held Appointment again renews its hold.
  if (appt.status !== undefined && appt.status !== 'proposed' && appt.status !== 'pending') {
    throw badRequest(`Only a proposed${step === 'book' ? ' or held' : ''} Appointment can be ${step === 'hold' ? 'held' : 'booked'}; `
      + `this one is ${appt.status}${appt.status === 'cancelled' ? ' (a hold that expired is cancelled)' : ''}`, ['Appointment.status']);
  }
  if (localId(appt.slot?.[0]?.reference, 'Slot') === undefined) {
    throw badRequest(`The Appointment to ${step} names the Slot(s) it takes (from $find)`, ['Appointment.slot']);
  }
  const { id: _id, meta: _meta, ...content } = appt;
  const others = (appt.extension ?? []).filter((e) => e?.url !== HOLD_UNTIL_URL);
  const next: Resource = step === 'hold'
    ? { ...content, status: 'pending', extension: [...others,
      { url: HOLD_UNTIL_URL, valueInstant: new Date(Date.now() + deps.config.holdMinutes * 60_000).toISOString() }] }
    : { ...content, status: 'booked', ...(others.length > 0 ? { extension: others } : {}) };
  if (step === 'book' && others.length === 0) delete (next as { extension?: unknown }).extension;
  const write: FhirRequest = { method: id ? 'PUT' : 'POST', path: id ? `Appointment/${id}` : 'Appointment', query: [],
    headers: { prefer: 'return=representation', ...(id ? { ifMatch: `W/"${appt.meta?.versionId}"` } : {}) },
    body: id ? { ...next, id } : next };
  const result = await inTransaction(deps, ctx, (tx) => {
    const inner = { ...ctx, tx };
    return id ? update(deps, inner, write, 'Appointment', id) : create(deps, inner, write, 'Appointment');
  });
  return { ...result, status: 200, body: bundle('searchset', [{ resource: result.body!, search: { mode: 'match' } }],
    { self: `${ctx.base}/Appointment/$${step}` }, 1) };
}

/** POST Schedule/[id]/$generate-slots?start=&end=: the free Slots of the Schedule's working pattern (default: the horizon). */
export async function generateSlotsOperation(deps: Deps, ctx: Context, req: FhirRequest, scheduleId: string): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed('$generate-slots is invoked with POST');
  ctx.access?.require('Slot', 'c');
  const p = operationInputs(req);
  const { start, end } = span(p, deps.config.slotHorizonDays || 28, MAX_GENERATE_DAYS);
  const schema = ctx.tenant.schema;
  const guard = writeGuard(ctx, 'Slot', 'c');
  const result = await inTransaction(deps, ctx, async (tx) => {
    if (!(await readCurrent(tx, schema, 'Schedule', scheduleId))?.resource) throw notFound('Schedule', scheduleId);
    return generateSlots(tx, schema, { hooks: () => deps.writeHooks, search: { registry: ctx.search, defs: deps.defs, base: ctx.base },
      timezone: deps.config.timezone }, scheduleId, start, end, guard);
  });
  return { status: 200, body: { resourceType: 'Parameters', parameter: [
    { name: 'created', valueInteger: result.created },
    { name: 'existing', valueInteger: result.existing },
    ...(result.source ? [{ name: 'pattern', valueString: result.source }] : []),
    { name: 'start', valueDateTime: start.toISOString() },
    { name: 'end', valueDateTime: end.toISOString() },
  ] } };
}
