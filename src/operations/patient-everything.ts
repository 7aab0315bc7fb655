/** Patient/[id]/$everything, paged — http://hl7.org/fhir/R4/patient-operation-everything.html */
import { badRequest, methodNotAllowed, notFound } from '../errors.js';
import { parseDateRange, parseInstant } from '../fhir/datetime.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from '../interactions/context.js';
import type { Params } from '../fhir/types.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { searchTarget } from '../interactions/search.js';
import { checkVisible } from '../interactions/read.js';
import type { Condition } from '../search/ast.js';
import { inPatientCompartment, patientCompartmentCondition } from '../search/compartment.js';
import { parseSearch } from '../search/parse.js';
import type { SearchRegistry } from '../search/registry.js';
import { readCurrent } from '../storage/resources.js';

/** The operation's input parameters and the value[x] each takes (OperationDefinition Patient-everything). */
const INPUTS: Record<string, string[]> = {
  start: ['valueDate', 'valueDateTime', 'valueString'], end: ['valueDate', 'valueDateTime', 'valueString'],
  _since: ['valueInstant', 'valueDateTime', 'valueString'], _type: ['valueCode', 'valueString'],
  _count: ['valueInteger', 'valuePositiveInt', 'valueUnsignedInt'],
};

/** A POST's Parameters body (or none) as query pairs after the URL's own; GET and HEAD keep the URL's. */
function inputs(req: FhirRequest): Params {
  if (req.method === 'GET' || req.method === 'HEAD') return req.query;
  if (req.method !== 'POST') throw methodNotAllowed('$everything is invoked with GET or POST');
  if (req.body === undefined) return req.query;
  const body = req.body as Resource;
  if (typeof body !== 'object' || body === null || body.resourceType !== 'Parameters') {
    throw badRequest('A POST to $everything takes no body or a Parameters resource');
  }
  const pairs: Params = [];
  for (const p of (body.parameter ?? []) as Record<string, unknown>[]) {
    const name = String(p.name);
    const key = INPUTS[name]?.find((k) => p[k] !== undefined);
    if (!key) throw badRequest(`$everything has no input parameter '${name}' of that type`, [`Parameters.parameter`]);
    pairs.push([name, String(p[key])]);
  }
  return [...req.query, ...pairs];
}

/**
 * start/end (care dates, not record dates): a resource whose type has a clinical `date` parameter is in range when
 * that date overlaps [start, end] or it has none; types without one (Patient, …) are always in range.
 */
function careDates(deps: Deps, registry: SearchRegistry, types: string[], query: Params, base: string): Condition | undefined {
  const start = query.filter(([k]) => k === 'start').pop()?.[1];
  const end = query.filter(([k]) => k === 'end').pop()?.[1];
  if (start === undefined && end === undefined) return undefined;
  if (start !== undefined) parseDateRange(start, 'start');
  if (end !== undefined) parseDateRange(end, 'end');
  const range: Params = [...(start !== undefined ? [['date', `ge${start}`] as [string, string]] : []),
    ...(end !== undefined ? [['date', `le${end}`] as [string, string]] : [])];
  const byType = new Map<string, Condition | null>();
  for (const type of types) {
    const date = registry.get(type, 'date');
    if (!date || date.type !== 'date') { byType.set(type, null); continue; }
    const parse = (q: Params) => parseSearch({ registry, defs: deps.defs, base }, q, { types: [type], strict: true,
      defaultCount: 1, maxCount: 1, pageTokens: deps.pageTokens }).conditions;
    byType.set(type, { kind: 'any', alternatives: [parse(range), parse([['date:missing', 'true']])] });
  }
  return { kind: 'by-type', byType };
}

/** _since (an instant) becomes _lastUpdated=ge…; _type picks the types; start/end pick care dates; _count pages. */
function everythingQuery(deps: Deps, ctx: Context, query: Params) {
  const listed = query.filter(([k, v]) => k === '_type' && v !== '').flatMap(([, v]) => v.split(',').map((t) => t.trim()));
  for (const t of listed) if (!deps.defs.isResourceType(t)) throw badRequest(`_type: ${t} is not a resource type`, ['_type']);
  const search = query.filter(([k]) => k !== 'start' && k !== 'end').map(([k, v]): [string, string] => {
    if (k !== '_since') return [k, v];
    parseInstant(v, '_since');
    return ['_lastUpdated', `ge${v}`];
  });
  const all = listed.length > 0 ? [...new Set(listed)] : [...deps.defs.resourceTypes];
  const members = all.filter(inPatientCompartment);
  const dates = careDates(deps, ctx.search, members, query, ctx.base);
  return { search, members, referenced: all.filter((t) => !inPatientCompartment(t)), dates };
}

/**
 * Every resource in the patient's compartment as matches, page by page; what they refer to outside it
 * (Practitioner, Organization, Medication …) once, as includes of the first page — not again on every page. An
 * unknown or deleted patient → 404.
 */
export async function patientEverything(deps: Deps, ctx: Context, req: FhirRequest, id: string): Promise<FhirResult> {
  const query = inputs(req);
  const patient = await readCurrent(ctx.tx ?? deps.db, ctx.tenant.schema, 'Patient', id);
  if (!patient || patient.deleted) throw notFound('Patient', id);
  await checkVisible(deps, ctx, 'Patient', id, patient);
  const { search, members, referenced, dates } = everythingQuery(deps, ctx, query);
  if (members.length === 0) throw badRequest('_type names no type of the Patient compartment', ['_type']);
  const compartment = patientCompartmentCondition(id);
  return searchTarget(deps, ctx, { ...req, method: 'GET', body: undefined, query: search }, {
    types: members, typeApplied: true, path: `Patient/${id}/$everything`,
    conditions: [compartment, ...(dates ? [dates] : [])],
    ...(referenced.length > 0 ? { firstPageIncludes: { types: referenced, conditions: [{ kind: 'referenced-from', compartment }] } } : {}),
  });
}
