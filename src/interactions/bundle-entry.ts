/** Turns Bundle entries into FhirRequests and results into response entries — http://hl7.org/fhir/R4/http.html#transaction */
import type { ReturnPreference } from '../fhir/request.js';
import { type FhirError, badRequest, bundleTimedOut, invalidResource } from '../errors.js';
import { statusText } from '../fhir/bundle.js';
import type { Bundle, BundleEntry, Resource } from '../fhir/types.js';
import { informational, toOutcome } from '../fhir/outcome.js';
import type { Context } from './context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { checkJsonLimits } from '../validation/limits.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

export function checkBundle(body: unknown): Bundle & { type: 'batch' | 'transaction' } {
  const b = body as Bundle | undefined;
  if (!b || typeof b !== 'object' || b.resourceType !== 'Bundle') throw badRequest('The body must be a Bundle');
  if (b.type !== 'batch' && b.type !== 'transaction') {
    throw badRequest(`Bundle.type must be batch or transaction, not '${String(b.type)}'`, ['Bundle.type']);
  }
  if (b.entry !== undefined && !Array.isArray(b.entry)) throw badRequest('Bundle.entry must be an array', ['Bundle.entry']);
  return b as Bundle & { type: 'batch' | 'transaction' };
}

/** The entry's request as if it had come over HTTP; url relative to the base (absolute on this base accepted). */
export function entryRequest(ctx: Context, entry: BundleEntry, index: number, prefer?: string): FhirRequest {
  const where = [`Bundle.entry[${index}].request`];
  const r = entry?.request;
  if (!r || typeof r !== 'object') throw badRequest(`Entry ${index} has no request`, where);
  const method = typeof r.method === 'string' ? r.method.toUpperCase() : '';
  if (!METHODS.has(method)) throw badRequest(`Entry ${index} has an unsupported request.method`, [`${where[0]}.method`]);
  if (typeof r.url !== 'string' || r.url.trim() === '') throw badRequest(`Entry ${index} has no request.url`, [`${where[0]}.url`]);
  let url = r.url.trim();
  if (url.startsWith(`${ctx.base}/`)) url = url.slice(ctx.base.length + 1);
  else if (/^[a-z]+:\/\//i.test(url)) throw badRequest(`Entry ${index} request.url is on another server`, [`${where[0]}.url`]);
  url = url.replace(/^\/+/, '');
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? [] : [...new URLSearchParams(url.slice(q + 1)).entries()];
  if ((method === 'POST' || method === 'PUT') && !entry.resource) {
    throw badRequest(`Entry ${index} (${method}) has no resource`, [`Bundle.entry[${index}].resource`]);
  }
  const headers: FhirRequest['headers'] = { contentType: 'application/fhir+json' };
  if (r.ifMatch) headers.ifMatch = r.ifMatch;
  if (r.ifNoneMatch) headers.ifNoneMatch = r.ifNoneMatch;
  if (r.ifModifiedSince) headers.ifModifiedSince = r.ifModifiedSince;
  if (r.ifNoneExist) headers.ifNoneExist = r.ifNoneExist;
  if (prefer) headers.prefer = prefer;
  return { method, path, query, headers, ...(entry.resource ? { body: entry.resource } : {}) };
}

/** Binary-wrapped JSON Patch in a Bundle entry (fhir-rest.md §10.11). */
export function patchBody(req: FhirRequest): FhirRequest {
  const body = req.body as Resource | undefined;
  if (req.method !== 'PATCH' || body?.resourceType !== 'Binary') return req;
  const contentType = String(body.contentType ?? '');
  const data = typeof body.data === 'string' ? Buffer.from(body.data, 'base64').toString('utf8') : '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw badRequest('The Binary patch document is not valid JSON');
  }
  // Parsed here rather than by the HTTP layer, so the body limits are applied here too (issue #12 §6, §7).
  const limit = checkJsonLimits(parsed);
  if (limit) throw invalidResource([limit]);
  return { ...req, body: parsed, headers: { ...req.headers, contentType } };
}

export function responseEntry(result: FhirResult, ret: ReturnPreference): BundleEntry {
  const response: NonNullable<BundleEntry['response']> = { status: statusText(result.status) };
  if (result.location) response.location = result.location;
  if (result.etag) response.etag = result.etag;
  if (result.lastModified) response.lastModified = result.lastModified.toISOString();
  const includeBody = result.body && (!result.write || ret === 'representation');
  if (result.write && ret === 'OperationOutcome') {
    response.outcome = informational('OK');
  }
  return { ...(includeBody ? { resource: result.body } : {}), response };
}

export function errorEntry(e: FhirError): BundleEntry {
  return { response: { status: statusText(e.status), outcome: toOutcome(e.issues) } };
}

/**
 * A Bundle as a whole is bounded by the statement timeout (issue #12 §10), like each of its statements: the answer
 * checks the deadline before an entry and throws 503 `timeout`, the outcome of a statement timeout (db/errors.ts).
 */
export function bundleDeadline(timeoutMs: number, kind: 'batch' | 'transaction'): (index: number) => void {
  const end = Date.now() + timeoutMs;
  return (index) => {
    if (Date.now() <= end) return;
    throw bundleTimedOut(kind, timeoutMs, index);
  };
}
