/**
 * Bulk Data kick-off parameters (bulk-data.md §2–§3; export.html#query-parameters): GET query or POST Parameters →
 * the validated ExportParams of a job. Unsupported values are a 400, or under `Prefer: handling=lenient` an
 * OperationOutcome in the job's error file; what the IG lets a server pass over (a `_type` outside the Patient
 * compartment beside ones inside it, `includeAssociatedData` values) is ignored with such an OperationOutcome unless
 * `Prefer: handling=strict` (issue #22 §3, §7).
 */
import { badRequest } from '../errors.js';
import { parseInstant } from '../fhir/datetime.js';
import type { Resource } from '../fhir/types.js';
import type { Access } from '../auth/access.js';
import type { Context, Deps } from '../interactions/context.js';
import type { Params } from '../fhir/types.js';
import type { FhirRequest } from '../fhir/request.js';
import { parseElements } from '../search/parse-result.js';
import { exportableTypes } from './scope.js';
import { type Handling, Problems } from './problems.js';
import { parseTypeFilter } from './type-filter.js';
import type { ExportLevel, ExportParams } from './types.js';

const FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson',
  'application/fhir ndjson']); // the last: an unencoded '+' in a query string arrives as a space
const KNOWN = new Set(['_outputFormat', '_since', '_type', '_elements', 'patient', 'includeAssociatedData', '_typeFilter',
  '_format', '_pretty']);

/**
 * Prefer: respond-async is expected; a missing one is processed as if sent (export.html#headers lets the server
 * choose; project decision, documented in the CapabilityStatement), another respond-… value is a 400.
 */
export function checkPrefer(prefer: string | undefined): { handling: Handling } {
  const parts = (prefer ?? '').split(/[,;]/).map((p) => p.trim().toLowerCase()).filter(Boolean);
  const other = parts.find((p) => p.startsWith('respond-') && p !== 'respond-async');
  if (other) throw badRequest(`Prefer: ${other} is not supported; $export answers asynchronously (respond-async)`);
  const handling = parts.map((p) => /^handling\s*=\s*"?(strict|lenient)"?$/.exec(p)?.[1]).filter((h) => h !== undefined).pop();
  return { handling: handling as Handling };
}

function valueOf(p: Record<string, unknown>): string | undefined {
  const key = Object.keys(p).find((k) => k.startsWith('value'));
  const v = key === undefined ? undefined : p[key];
  if (v && typeof v === 'object' && typeof (v as { reference?: unknown }).reference === 'string') return (v as { reference: string }).reference;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** POST: a Parameters body (empty allowed); the URL's own query parameters count too. */
function bodyParams(body: unknown): Params {
  if (body === undefined || body === null || body === '') return [];
  const r = body as Resource;
  if (r.resourceType !== 'Parameters') throw badRequest('The $export body must be a Parameters resource');
  const out: Params = [];
  for (const p of (r.parameter as Record<string, unknown>[] | undefined) ?? []) {
    const value = valueOf(p);
    if (typeof p.name !== 'string' || value === undefined) throw badRequest('Every $export parameter needs a name and a value');
    out.push([p.name, value]);
  }
  return out;
}

/** Comma lists that may repeat (§3.8): every value, split and trimmed. */
const listOf = (q: Params, name: string): string[] =>
  q.filter(([k]) => k === name).flatMap(([, v]) => v.split(',')).map((v) => v.trim()).filter(Boolean);

function patientIds(values: string[], base: string, problems: Problems): string[] {
  const ids: string[] = [];
  for (const v of values) {
    const m = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(v);
    if (!m || (v.includes('://') && !v.startsWith(`${base}/`))) problems.refuse(`patient '${v}' is not a reference to a Patient of this server`, 'patient', 'invalid');
    else ids.push(m[1]!);
  }
  return [...new Set(ids)];
}

function checkElements(deps: Deps, values: string[], problems: Problems): string[] {
  const out: string[] = [];
  for (const e of values) {
    const type = e.includes('.') ? e.split('.')[0]! : undefined;
    if (type !== undefined && !deps.defs.isResourceType(type)) problems.refuse(`_elements: '${type}' is not a resource type`, '_elements');
    else out.push(...parseElements(e));
  }
  return out;
}

export interface KickoffInput { level: ExportLevel; group?: string; access: Access; handling: Handling }

/** The request's parameters → ExportParams (without ignored-patient checks, done against the data by the caller). */
export function parseKickoff(deps: Deps, ctx: Context, req: FhirRequest, input: KickoffInput): { params: ExportParams; problems: Problems } {
  const problems = new Problems(input.handling);
  const post = req.method === 'POST' ? bodyParams(req.body) : [];
  const q: Params = [...req.query, ...post];
  for (const [name] of q) if (!KNOWN.has(name)) problems.refuse(`$export has no parameter '${name}'`, name);
  const format = q.filter(([k]) => k === '_outputFormat').pop()?.[1];
  if (format !== undefined && !FORMATS.has(format.trim().toLowerCase())) {
    problems.refuse(`_outputFormat '${format}' is not supported; use application/fhir+ndjson`, '_outputFormat');
  }
  const sinceText = q.filter(([k]) => k === '_since').pop()?.[1];
  const since = sinceText === undefined ? undefined : parseInstant(sinceText, '_since');
  // Nothing can have changed after a time still to come: a clock or arithmetic error on the client (issue #22 §2).
  if (since && since.getTime() > Date.now()) throw badRequest(`_since ${sinceText} lies in the future`, ['_since']);
  for (const v of listOf(q, 'includeAssociatedData')) problems.overlook(`includeAssociatedData '${v}' is not supported`, 'includeAssociatedData');
  const requested = listOf(q, '_type');
  const types = exportableTypes(deps.defs, input.access, input.level, requested.length > 0 ? requested : undefined, problems);
  const px = { registry: ctx.search, defs: deps.defs, base: ctx.base };
  const typeFilters = parseTypeFilter(px, input.access, q.filter(([k]) => k === '_typeFilter').map(([, v]) => v), types, problems);
  const elements = checkElements(deps, listOf(q, '_elements'), problems);
  let patients: string[] | undefined;
  if (q.some(([k]) => k === 'patient')) {
    if (input.level === 'system') throw badRequest('patient is accepted by Patient- and Group-level $export only', ['patient']);
    const inBody = post.filter(([k]) => k === 'patient').map(([, v]) => v);
    if (inBody.length < q.filter(([k]) => k === 'patient').length) problems.refuse('patient is accepted in a POST Parameters body only', 'patient');
    if (inBody.length > 0) patients = patientIds(inBody, ctx.base, problems);
  }
  const query = new URLSearchParams(req.query).toString();
  const { principal } = input.access; // with its related patients, read before the kick-off (http/fhir.ts)
  const params: ExportParams = {
    level: input.level, ...(input.group ? { group: input.group } : {}), types,
    ...(since ? { since: since.toISOString() } : {}), ...(elements.length > 0 ? { elements } : {}),
    ...(Object.keys(typeFilters).length > 0 ? { typeFilters } : {}), ...(patients ? { patients } : {}),
    request: `${ctx.base}/${req.path}${query ? `?${query}` : ''}`, base: ctx.base,
    principal: { clientId: principal.clientId, subject: principal.subject, scope: principal.scope,
      ...(principal.fhirUser ? { fhirUser: principal.fhirUser } : {}),
      ...(principal.roles ? { rules: principal.rules.map((r) => ({ text: r.text, ...(r.related ? { related: [...r.related] } : {}) })) } : {}),
      ...(principal.related ? { related: Object.fromEntries([...principal.related].map(([k, v]) => [k, [...v]])) } : {}),
      ...(principal.purposes ? { purposes: [...principal.purposes] } : {}) },
    ignored: problems.ignored,
  };
  return { params, problems };
}
