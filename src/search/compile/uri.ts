/** uri parameters: exact, :below, :above (not for URNs), url|version — http://hl7.org/fhir/R4/search.html#uri */
import { type Sql, sql } from '../../db/sql.js';
import type { UriValue, ValueCondition } from '../ast.js';
import { type CompileContext, type Scope, any, exists, indexAlias } from './context.js';
import { keyEquals, keyStartsWith } from './index-key.js';

const isUrn = (uri: string) => /^urn:/i.test(uri);

/** Over alias i (uri, version): a canonical's `|version` is stored apart, so a search without one matches all. */
export function uriMatch(i: Sql, modifier: string | undefined, v: UriValue): Sql {
  if (modifier === 'below' && !isUrn(v.uri)) return keyStartsWith(sql`${i}.uri`, v.uri);
  if (modifier === 'above' && !isUrn(v.uri)) return sql`starts_with(${v.uri}::text, ${i}.uri)`;
  if (v.version !== undefined) return sql`(${keyEquals(sql`${i}.uri`, v.uri)} AND ${i}.version = ${v.version})`;
  return keyEquals(sql`${i}.uri`, v.uri);
}

/**
 * `url|version` on a conformance resource's own url: the stored url plus its business `version` parameter
 * (fhir-search.md §3.4.3), or a canonical stored with that version.
 */
function versioned(cx: CompileContext, c: ValueCondition, scope: Scope, v: UriValue & { version: string }): Sql {
  const i = indexAlias(scope.depth);
  const withSuffix = exists(cx, 'idx_uri', scope, c.code, uriMatch(i, undefined, v));
  const hasVersion = scope.type !== undefined && cx.registry.get(scope.type, 'version')?.type === 'token';
  if (!hasVersion) return withSuffix;
  const plain = exists(cx, 'idx_uri', scope, c.code, keyEquals(sql`${i}.uri`, v.uri));
  const version = exists(cx, 'idx_token', scope, 'version', sql`${i}.code = ${v.version}`);
  return sql`(${withSuffix} OR (${plain} AND ${version}))`;
}

export function compileUri(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  const values = c.values as UriValue[];
  const simple = values.filter((v) => v.version === undefined || c.modifier !== undefined);
  const parts: Sql[] = simple.length > 0
    ? [exists(cx, 'idx_uri', scope, c.code, any(simple.map((v) => uriMatch(i, c.modifier, v))))] : [];
  for (const v of values) {
    if (v.version !== undefined && c.modifier === undefined) parts.push(versioned(cx, c, scope, v as UriValue & { version: string }));
  }
  return any(parts);
}
