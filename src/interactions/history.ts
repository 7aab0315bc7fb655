/** FHIR history at instance, type and system level — https://hl7.org/fhir/R4/http.html#history */
import { badRequest, notFound } from '../errors.js';
import { bundle, pageUrl, statusText } from '../fhir/bundle.js';
import { parseDateRange, parseInstant } from '../fhir/datetime.js';
import { etag } from '../fhir/etag.js';
import type { BundleEntry } from '../fhir/types.js';
import { type HistoryQuery, type HistoryRow, countHistory, readHistory, resourceEverExisted } from '../storage/history.js';
import type { Context, Deps } from './context.js';
import type { Params } from '../fhir/types.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { checkVisible } from './read.js';

const KNOWN = new Set(['_count', '_since', '_at', '_page', '_list']);

function single(query: Params, name: string): string | undefined {
  const values = query.filter(([k]) => k === name);
  if (values.length > 1) throw badRequest(`History parameter ${name} may appear only once`);
  return values[0]?.[1];
}

export function pageSize(deps: Deps, raw: string | undefined): number {
  if (raw === undefined) return deps.config.defaultPageSize;
  if (!/^\d+$/.test(raw)) throw badRequest('_count must be a non-negative integer');
  return Math.min(Number(raw), deps.config.maxPageSize);
}

function parseQuery(deps: Deps, req: FhirRequest, type?: string, id?: string): HistoryQuery {
  if (single(req.query, '_list') !== undefined) throw badRequest('_list is not supported on history');
  const since = single(req.query, '_since');
  const at = single(req.query, '_at');
  const page = single(req.query, '_page');
  const q: HistoryQuery = { limit: pageSize(deps, single(req.query, '_count')) };
  if (type) q.type = type;
  if (id) q.id = id;
  if (since !== undefined) q.since = parseInstant(since, '_since');
  if (at !== undefined) q.at = parseDateRange(at, '_at');
  if (page !== undefined) {
    const key = deps.pageTokens.decode(page);
    q.after = { lastUpdated: String(key.k[0]), seq: Number(key.k[1]), direction: key.d === 'p' ? 'previous' : 'next' };
  }
  return q;
}

function entry(ctx: Context, v: HistoryRow): BundleEntry {
  const method = v.method ?? 'PUT';
  const status = method === 'DELETE' ? 204 : v.versionId === 1 || method === 'POST' ? 201 : 200;
  return {
    fullUrl: `${ctx.base}/${v.type}/${v.id}`,
    ...(v.resource ? { resource: v.resource } : {}),
    request: { method, url: method === 'POST' ? v.type : `${v.type}/${v.id}` },
    response: { status: statusText(status), etag: etag(v.versionId), lastModified: v.lastUpdated.toISOString() },
  };
}

/** True when the token's search scope on the type (or every type) is not narrowed. */
function historyUnrestricted(ctx: Context, type: string | undefined): boolean {
  const access = ctx.access!;
  return type ? access.narrowing(type, 's') === null : access.unrestrictedEverywhere('s');
}

export async function history(deps: Deps, ctx: Context, req: FhirRequest, type?: string, id?: string): Promise<FhirResult> {
  const q = parseQuery(deps, req, type, id);
  const db = ctx.tx ?? deps.db;
  if (type && id && !(await resourceEverExisted(db, ctx.tenant.schema, type, id))) throw notFound(type, id);
  if (type && id) await checkVisible(deps, ctx, type, id);
  const rows = q.limit === 0 ? [] : await readHistory(db, ctx.tenant.schema, { ...q, limit: q.limit + 1 });
  const backwards = q.after?.direction === 'previous';
  const hasMore = rows.length > q.limit;
  const unfiltered = hasMore ? (backwards ? rows.slice(1) : rows.slice(0, q.limit)) : rows;
  // Type and system history under a narrowed token: only versions of resources it may see now (deleted ones never);
  // the page may then hold fewer entries, and no total is given.
  const narrowed = !id && ctx.access !== undefined && !historyUnrestricted(ctx, type);
  const page = narrowed ? await ctx.access!.filterVisible(db, unfiltered.filter((v) => ctx.access!.allows(v.type, 's')), 's') : unfiltered;
  const total = type && !narrowed ? await countHistory(db, ctx.tenant.schema, { ...q, after: undefined }) : undefined;
  const path = [type, id, '_history'].filter(Boolean).join('/');
  const keep = req.query.filter(([k]) => KNOWN.has(k) && k !== '_page');
  const link = (d: 'n' | 'p', r: HistoryRow) =>
    pageUrl(ctx.base, path, [...keep, ['_page', deps.pageTokens.encode({ d, k: [r.lastUpdated.toISOString(), r.seq] })]]);
  const first = page[0];
  const last = page[page.length - 1];
  const moreAfter = backwards ? q.after !== undefined : hasMore;
  const moreBefore = backwards ? hasMore : q.after !== undefined;
  return {
    status: 200,
    body: bundle('history', page.map((v) => entry(ctx, v)), {
      self: pageUrl(ctx.base, path, req.query.filter(([k]) => KNOWN.has(k))),
      first: pageUrl(ctx.base, path, keep),
      ...(moreAfter && last ? { next: link('n', last) } : {}),
      ...(moreBefore && first ? { previous: link('p', first) } : {}),
    }, total),
  };
}
