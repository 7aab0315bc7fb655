/** The searchset Bundle: entries with search.mode, total and paging links — search.html#return, bundle.html */
import crypto from 'node:crypto';
import type { Definitions } from '../fhir/definitions.js';
import { toOutcome } from '../fhir/outcome.js';
import type { PageKey, PageTokens } from '../fhir/page-token.js';
import { subset } from '../fhir/subset.js';
import type { Bundle, BundleEntry, Resource } from '../fhir/types.js';
import type { Params } from '../fhir/types.js';
import type { SearchQuery } from './ast.js';
import type { FoundRow, Page } from './execute.js';

export interface Searchset {
  base: string;
  /** Path of the search relative to the base ('' for system search). */
  path: string;
  query: SearchQuery;
  page: Page;
  includes: FoundRow[];
  total?: number;
  warnings: string[];
}

export function linkUrl(base: string, path: string, params: Params): string {
  const qs = new URLSearchParams(params).toString();
  return `${base}${path ? `/${path}` : ''}${qs ? `?${qs}` : ''}`;
}

function shape(defs: Definitions, q: SearchQuery, resource: Resource, match: boolean): Resource {
  const summary = q.summary === 'false' ? undefined : q.summary;
  const elements = match ? q.elements : undefined;
  return summary || elements ? subset(defs, resource, summary, elements) : resource;
}

function outcome(warnings: string[]): BundleEntry {
  return {
    fullUrl: `urn:uuid:${crypto.randomUUID()}`,
    resource: toOutcome(warnings.map((diagnostics) => ({ severity: 'warning', code: 'informational', diagnostics }))),
    search: { mode: 'outcome' },
  };
}

function links(s: Searchset, tokens: PageTokens, countOnly: boolean): Bundle['link'] {
  const { base, path, query: q } = s;
  const withPage = (key: PageKey) => linkUrl(base, path, [...q.applied, ['_page', tokens.encode(key)]]);
  const self = linkUrl(base, path, q.pageToken ? [...q.applied, ['_page', q.pageToken]] : q.applied);
  if (countOnly) return [{ relation: 'self', url: self }];
  return [
    { relation: 'self', url: self },
    { relation: 'first', url: linkUrl(base, path, q.applied) },
    ...(s.page.previous ? [{ relation: 'previous', url: withPage(s.page.previous) }] : []),
    ...(s.page.next ? [{ relation: 'next', url: withPage(s.page.next) }] : []),
  ];
}

export function searchsetBundle(s: Searchset, defs: Definitions, tokens: PageTokens): Bundle {
  const q = s.query;
  const countOnly = q.summary === 'count' || q.count === 0;
  const entry = (row: FoundRow, mode: 'match' | 'include'): BundleEntry => ({
    fullUrl: `${s.base}/${row.type}/${row.id}`,
    resource: shape(defs, q, row.content, mode === 'match'),
    search: { mode },
  });
  const entries = countOnly ? [] : [
    ...s.page.rows.map((r) => entry(r, 'match')),
    ...s.includes.map((r) => entry(r, 'include')),
    ...(s.warnings.length > 0 ? [outcome(s.warnings)] : []),
  ];
  return {
    resourceType: 'Bundle',
    id: crypto.randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    ...(s.total !== undefined ? { total: s.total } : {}),
    link: links(s, tokens, countOnly),
    ...(entries.length > 0 ? { entry: entries } : {}),
  };
}
