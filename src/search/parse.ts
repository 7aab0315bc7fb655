/** FHIR search query parameters → SearchQuery AST — http://hl7.org/fhir/R4/search.html (fhir-search.md §1, §2, §6) */
import { badRequest, unknownSearchParameters } from '../errors.js';
import type { PageTokens } from '../fhir/page-token.js';
import { parseSummary } from '../fhir/subset.js';
import { isValidId } from '../fhir/types.js';
import type { Params } from '../fhir/types.js';
import type { Condition, SearchQuery } from './ast.js';
import { type ParseContext, UnknownParameter, parseCondition } from './parse-condition.js';
import { checkContained, parseCount, parseElements, parseInclude, parseSort, parseTotal } from './parse-result.js';

export type { ParseContext } from './parse-condition.js';

export interface ParseOptions {
  /** The searched type(s); for system search, omit and let `_type` decide. */
  types?: string[];
  /** `_type` was already applied to types (compartment `*`): keep it in the links instead of ignoring it. */
  typeApplied?: boolean;
  /** Prefer: handling=strict — unknown parameters are a 400 instead of being ignored. */
  strict: boolean;
  defaultCount: number;
  maxCount: number;
  pageTokens: PageTokens;
}

/** Parameters that shape the result or the response rather than filter (search.html#return). */
const RESULT = new Set(['_sort', '_count', '_total', '_summary', '_elements', '_contained', '_containedType', '_page',
  '_format', '_pretty']);
/** Known to the spec but not supported here: ignored (lenient) or 400 (strict) like unknown ones (§3.9). */
const UNSUPPORTED = new Set(['_filter', '_score']);

/** Prefer: handling=strict|lenient (search.html#errors); lenient is the default. */
export const isStrict = (prefer: string | undefined): boolean => /handling\s*=\s*"?strict/i.test(prefer ?? '');

/** `_type=A,B` for system search; no `_type` → every type (only Resource-level parameters then apply, §5.6). */
function systemTypes(px: ParseContext, query: Params): string[] {
  const listed = query.filter(([k, v]) => k === '_type' && v !== '').flatMap(([, v]) => v.split(','));
  for (const t of listed) if (!px.defs.isResourceType(t)) throw badRequest(`_type: unknown resource type '${t}'`, ['_type']);
  return listed.length > 0 ? [...new Set(listed)] : [...px.defs.resourceTypes];
}

interface Acc { q: SearchQuery; unknown: string[] }

function applyResult(px: ParseContext, o: ParseOptions, acc: Acc, name: string, value: string) {
  const { q } = acc;
  switch (name) {
    case '_count': q.count = parseCount(value, o.maxCount); return;
    case '_total': q.total = parseTotal(value); break;
    case '_summary': q.summary = parseSummary(value); break;
    case '_elements': q.elements = parseElements(value); break;
    case '_page': q.page = o.pageTokens.decode(value); q.pageToken = value; return;
    case '_contained': case '_containedType': checkContained(name, value); break;
    case '_sort': {
      const { keys, unknown } = parseSort(px.registry, q.types, value);
      acc.unknown.push(...unknown.map((u) => `_sort=${u}`));
      q.sort = keys;
      if (keys.length > 0) q.applied.push(['_sort', keys.map((k) => (k.descending ? '-' : '') + k.code).join(',')]);
      return;
    }
  }
  q.applied.push([name, value]);
}

function applyFilter(px: ParseContext, acc: Acc, name: string, value: string) {
  let condition: Condition | undefined;
  if (name === '_query') throw badRequest(`_query '${value}' is not a named query this server knows`, ['_query']);
  if (UNSUPPORTED.has(name.split(':')[0]!)) throw new UnknownParameter(name);
  if (name.startsWith('_include') || name.startsWith('_revinclude')) {
    const specs = parseInclude(px.registry, px.defs, name, value);
    (name.startsWith('_include') ? acc.q.include : acc.q.revinclude).push(...specs);
  } else if (name === '_list') {
    if (!isValidId(value)) throw badRequest(`_list needs a List id`, ['_list']);
    condition = { kind: 'list', id: value };
  } else {
    condition = parseCondition(px, acc.q.types, name, value);
    if (!condition) return;
  }
  if (condition) acc.q.conditions.push(condition);
  acc.q.applied.push([name, value]);
}

/**
 * Every search value reaches SQL as text, which cannot hold NUL (22021); a lone surrogate cannot be encoded either.
 * GET queries, POST _search forms, If-None-Exist, conditional URLs and Bundle request urls all pass here (issue #12 §6).
 */
function checkCharacters(name: string, value: string): void {
  for (const s of [name, value]) {
    if (s.includes('\u0000')) throw badRequest(`Search parameter '${printable(name)}' contains a NUL character (\\u0000)`, [printable(name)]);
    if (LONE_SURROGATE.test(s)) throw badRequest(`Search parameter '${printable(name)}' contains a lone UTF-16 surrogate`, [printable(name)]);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const printable = (name: string) => name.replaceAll('\u0000', '\\u0000').replace(new RegExp(LONE_SURROGATE, 'g'), '\uFFFD');

/** Parses a whole query; 400 for malformed values, unsupported modifiers and (strict) unknown parameters. */
export function parseSearch(px: ParseContext, query: Params, o: ParseOptions): SearchQuery {
  const types = o.types ?? systemTypes(px, query);
  const q: SearchQuery = { types, conditions: [], sort: [], count: o.defaultCount, total: 'accurate', include: [],
    revinclude: [], applied: [], ignored: [] };
  const acc: Acc = { q, unknown: [] };
  for (const [name, value] of query) {
    checkCharacters(name, value);
    if (value === '') continue;
    try {
      if (name === '_type' && (!o.types || o.typeApplied)) q.applied.push([name, value]);
      else if (RESULT.has(name)) applyResult(px, o, acc, name, value);
      else applyFilter(px, acc, name, value);
    } catch (e) {
      if (!(e instanceof UnknownParameter)) throw e;
      acc.unknown.push(e.param);
    }
  }
  if (o.strict && acc.unknown.length > 0) throw unknownSearchParameters(acc.unknown);
  if (q.summary === 'text' && (q.include.length > 0 || q.revinclude.length > 0)) {
    throw badRequest('_summary=text cannot be combined with _include or _revinclude', ['_summary']);
  }
  q.applied.push(['_count', String(q.count)]);
  q.ignored = acc.unknown;
  return q;
}
