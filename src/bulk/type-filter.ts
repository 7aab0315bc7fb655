/**
 * `_typeFilter` (bulk-data.md §3.7, export.html#_typefilter-experimental-query-parameter): comma lists of URL-encoded
 * `Type?search` queries, run by the normal search engine; queries for one type are ORed, result parameters are a 400.
 */
import { badRequest } from '../errors.js';
import { PageTokens } from '../fhir/page-token.js';
import type { Access } from '../auth/access.js';
import type { Condition } from '../search/ast.js';
import { type ParseContext, parseSearch } from '../search/parse.js';
import type { Problems } from './problems.js';

/** Parameters that shape a result rather than select resources (search.html#return). */
const RESULT = /^(_sort|_count|_total|_summary|_elements|_contained|_containedType|_page|_format|_pretty|_include|_revinclude)(:|$)/;
const NO_TOKENS = new PageTokens('unused');

/**
 * Splits at commas that start a new `Type?` query: a comma inside a query (an OR of values) stays with its query even
 * when the client encoded the query only once.
 */
const split = (value: string): string[] => value.split(/,(?=[A-Z][A-Za-z]+\?)/).map((v) => v.trim()).filter(Boolean);

function conditionsOf(px: ParseContext, type: string, query: string, strict: boolean) {
  return parseSearch(px, [...new URLSearchParams(query)], { types: [type], strict, defaultCount: 1, maxCount: 1, pageTokens: NO_TOKENS });
}

/** Validates every filter at kick-off; the filters that apply (to exported types) by type. */
export function parseTypeFilter(px: ParseContext, access: Access, values: string[], types: string[], problems: Problems): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const item of values.flatMap(split)) {
    const m = /^([A-Z][A-Za-z]+)\?(.*)$/s.exec(item);
    if (!m || !px.defs.isResourceType(m[1]!)) throw badRequest(`_typeFilter '${item.slice(0, 100)}' is not a [Type]?[search] query`, ['_typeFilter']);
    const [, type, query] = m as unknown as [string, string, string];
    const names = [...new URLSearchParams(query).keys()];
    const result = names.find((n) => RESULT.test(n));
    if (result) throw badRequest(`_typeFilter may not use the result parameter ${result}`, ['_typeFilter']);
    if (!types.includes(type)) {
      problems.refuse(`_typeFilter for ${type}, which this export does not contain`, '_typeFilter');
      continue;
    }
    const q = conditionsOf(px, type, query, !problems.lenient);
    for (const name of q.ignored) problems.refuse(`_typeFilter: unknown search parameter '${name}' for ${type}`, '_typeFilter');
    access.checkReachable(q.conditions);
    (out[type] ??= []).push(query);
  }
  return out;
}

/** In the job: each filtered type's condition (its queries ORed). */
export function typeFilterConditions(px: ParseContext, filters: Record<string, string[]>): Map<string, Condition> {
  const out = new Map<string, Condition>();
  for (const [type, queries] of Object.entries(filters)) {
    const alternatives = queries.map((query) => conditionsOf(px, type, query, false).conditions);
    out.set(type, alternatives.length === 1 && alternatives[0]!.length === 1 ? alternatives[0]![0]! : { kind: 'any', alternatives });
  }
  return out;
}
