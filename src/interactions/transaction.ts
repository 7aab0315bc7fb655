/** FHIR transaction: all entries in one database transaction, all or nothing — https://hl7.org/fhir/R4/http.html#trules */
import crypto from 'node:crypto';
import { FhirError, badRequest, conditionalReferenceAmbiguous, conditionalReferenceUnmatched, multipleMatches, nestedBundle,
  restated, unresolvedBundleReference } from '../errors.js';
import { bundle } from '../fhir/bundle.js';
import { collectReferences, rewriteReferences } from '../fhir/references.js';
import type { BundleEntry, Resource } from '../fhir/types.js';
import { matchResources } from '../storage/match.js';
import { criteriaKey, lockCriteria } from '../storage/criteria-lock.js';
import { bundleDeadline, entryRequest, patchBody, responseEntry } from './bundle-entry.js';
import { returnPreference } from '../fhir/request.js';
import { conditionalCreate, lockMatch, matchDefinitions, parseCriteria } from './criteria.js';
import type { Context, Deps } from './context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { Dispatch } from './context.js';
import { versionResult, versionUrl } from './read.js';

interface Planned {
  index: number;
  req: FhirRequest;
  /** Already answered while planning (conditional create that matched). */
  result?: FhirResult;
}

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

/** An entry's failure, told as the transaction's: the same status and code, naming the entry. */
const fail = (i: number, req: FhirRequest | undefined, e: FhirError) =>
  restated(e, `Transaction entry ${i}${req ? ` (${req.method} ${req.path})` : ''} failed: ${e.message}`, e.expression ?? [`Bundle.entry[${i}]`]);

/** Decides ids for creates and conditional updates so references can be rewritten before anything is written. */
async function plan(deps: Deps, ctx: Context, entry: BundleEntry, index: number, prefer: string | undefined,
  rewrites: Map<string, string>): Promise<Planned> {
  let req = patchBody(entryRequest(ctx, entry, index, prefer));
  if (req.path === '') throw nestedBundle('transaction');
  const [type, id] = req.path.split('/');
  let target: string | undefined;
  if (req.method === 'POST' && id === undefined && req.query.length === 0) {
    const existing = req.headers.ifNoneExist !== undefined
      ? await conditionalCreate(deps, ctx, type!, req.headers.ifNoneExist) : undefined;
    if (existing) {
      target = `${type}/${existing.id}`;
      if (entry.fullUrl) rewrites.set(entry.fullUrl, target);
      return { index, req, result: { ...versionResult(ctx, existing), location: versionUrl(ctx, existing), write: true } };
    }
    const assignedId = crypto.randomUUID();
    const { ifNoneExist: _drop, ...headers } = req.headers;
    req = { ...req, headers, assignedId };
    target = `${type}/${assignedId}`;
  } else if (req.method === 'PUT' && id === undefined && req.query.length > 0) {
    req = await resolveConditionalUpdate(deps, ctx, req, type!);
    target = req.path;
  } else if (req.method === 'PUT' && id !== undefined) {
    target = `${type}/${id}`;
  }
  if (entry.fullUrl && target && entry.fullUrl !== target) rewrites.set(entry.fullUrl, target);
  return { index, req };
}

async function resolveConditionalUpdate(deps: Deps, ctx: Context, req: FhirRequest, type: string): Promise<FhirRequest> {
  await lockMatch(ctx, type, req.query);
  const found = await matchResources(ctx.tx!, ctx.tenant.schema, type, req.query, 2, matchDefinitions(deps, ctx));
  if (found.length > 1) throw multipleMatches(`The conditional update criteria matched more than one ${type}`);
  const body = req.body as Resource;
  const id = found[0]?.id ?? body.id ?? crypto.randomUUID();
  if (found[0] && body.id !== undefined && body.id !== found[0].id) {
    throw badRequest(`The resource id '${body.id}' differs from the matched ${type}/${found[0].id}`);
  }
  return { ...req, path: `${type}/${id}`, query: [], body: { ...body, id } };
}

/** Conditional references (Type?criteria) resolve to exactly one match: none → 404, several → 412 (project decision). */
async function resolveConditionalReferences(deps: Deps, ctx: Context, planned: Planned[], rewrites: Map<string, string>) {
  const refs = new Set<string>();
  for (const p of planned) if (p.req.body) collectReferences(p.req.body, (r) => /^[A-Z][A-Za-z]+\?/.test(r), refs);
  for (const ref of refs) {
    if (rewrites.has(ref)) continue;
    const type = ref.slice(0, ref.indexOf('?'));
    if (!deps.defs.isResourceType(type)) throw badRequest(`Conditional reference '${ref}' names an unknown type`);
    const params = parseCriteria(ref, type);
    await lockMatch(ctx, type, params);
    const found = await matchResources(ctx.tx!, ctx.tenant.schema, type, params, 2, matchDefinitions(deps, ctx));
    if (found.length === 0) throw conditionalReferenceUnmatched(ref);
    if (found.length > 1) throw conditionalReferenceAmbiguous(ref, type);
    rewrites.set(ref, `${type}/${found[0]!.id}`);
  }
}

function assertDistinctTargets(planned: Planned[]) {
  const seen = new Map<string, number>();
  for (const p of planned) {
    if (p.result || ORDER[p.req.method]! > 2 || p.req.query.length > 0) continue;
    const key = p.req.assignedId ? `${p.req.path}/${p.req.assignedId}` : p.req.path;
    const other = seen.get(key);
    if (other !== undefined) throw badRequest(`Entries ${other} and ${p.index} both change ${key}`);
    seen.set(key, p.index);
  }
}

/**
 * The lock keys of every criteria the Bundle matches on (If-None-Exist, conditional update, conditional references),
 * taken at once in key order so that two Bundles sharing criteria cannot deadlock. Entries that do not parse are left
 * to planning, which names their fault.
 */
function criteriaKeys(ctx: Context, entries: BundleEntry[]): string[] {
  const keys: string[] = [];
  const add = (type: string, params: () => [string, string][]) => {
    try {
      keys.push(criteriaKey(ctx.tenant.schema, type, params()));
    } catch {
      // reported by plan()
    }
  };
  const refs = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    try {
      const req = entryRequest(ctx, entry, i);
      const [type, id] = req.path.split('/');
      if (!type) continue;
      if (req.method === 'POST' && req.headers.ifNoneExist !== undefined) add(type, () => parseCriteria(req.headers.ifNoneExist!, type));
      if (req.method === 'PUT' && id === undefined && req.query.length > 0) add(type, () => req.query);
      if (entry.resource) collectReferences(entry.resource, (r) => /^[A-Z][A-Za-z]+\?/.test(r), refs);
    } catch {
      // reported by plan()
    }
  }
  for (const ref of refs) add(ref.slice(0, ref.indexOf('?')), () => parseCriteria(ref, ref.slice(0, ref.indexOf('?'))));
  return keys;
}

async function execute(deps: Deps, ctx: Context, entries: BundleEntry[], prefer: string | undefined, dispatch: Dispatch) {
  const rewrites = new Map<string, string>();
  const planned: Planned[] = [];
  const checkDeadline = bundleDeadline(deps.config.statementTimeoutMs, 'transaction');
  await lockCriteria(ctx.tx!, criteriaKeys(ctx, entries));
  for (const [i, entry] of entries.entries()) {
    checkDeadline(i);
    try {
      planned.push(await plan(deps, ctx, entry, i, prefer, rewrites));
    } catch (e) {
      throw e instanceof FhirError ? fail(i, undefined, e) : e;
    }
  }
  assertDistinctTargets(planned);
  await resolveConditionalReferences(deps, ctx, planned, rewrites);
  for (const p of planned) {
    if (p.req.body && typeof p.req.body === 'object' && (p.req.body as Resource).resourceType) {
      p.req = { ...p.req, body: rewriteReferences(deps.defs, p.req.body as Resource, rewrites) };
      // A urn:uuid reference is a Bundle-internal name: one that no entry's fullUrl defines fails the transaction.
      const [unresolved] = collectReferences(p.req.body, (r) => r.startsWith('urn:uuid:') && !rewrites.has(r));
      if (unresolved) throw fail(p.index, p.req, unresolvedBundleReference(unresolved));
    }
  }
  const results: FhirResult[] = [];
  for (const p of [...planned].sort((a, b) => ORDER[a.req.method]! - ORDER[b.req.method]! || a.index - b.index)) {
    checkDeadline(p.index);
    try {
      results[p.index] = p.result ?? await dispatch(deps, ctx, p.req);
    } catch (e) {
      throw e instanceof FhirError ? fail(p.index, p.req, e) : e;
    }
  }
  return results;
}

export async function transaction(deps: Deps, ctx: Context, entries: BundleEntry[], prefer: string | undefined,
  dispatch: Dispatch): Promise<FhirResult> {
  const ret = returnPreference(prefer);
  const results = await deps.db.transaction((tx) => execute(deps, { ...ctx, tx }, entries, prefer, dispatch),
    { statementTimeoutMs: deps.config.statementTimeoutMs });
  return { status: 200, body: bundle('transaction-response', results.map((r) => responseEntry(r, ret)), { self: ctx.base }) };
}
