/** reference parameters: id, Type/id, absolute URL, :[type], :identifier — http://hl7.org/fhir/R4/search.html#reference */
import { type Sql, sql } from '../../db/sql.js';
import type { ReferenceValue, TokenValue, ValueCondition } from '../ast.js';
import { type CompileContext, type Scope, any, exists, indexAlias } from './context.js';
import { keyEquals } from './index-key.js';
import { tokenMatch } from './token.js';

/**
 * Versions of stored references (Patient/1/_history/2) and canonicals (url|1.0) are kept apart in ref_version, so
 * Patient/1 matches them; absolute URLs are stored whole in url.
 */
export function referenceMatch(i: Sql, v: ReferenceValue): Sql {
  if (v.id !== undefined) {
    return v.type !== undefined ? sql`(${i}.ref_type = ${v.type} AND ${i}.ref_id = ${v.id})` : sql`${i}.ref_id = ${v.id}`;
  }
  if (v.url === undefined) return sql`false`;
  if (v.version !== undefined) return sql`(${keyEquals(sql`${i}.url`, v.url)} AND ${i}.ref_version = ${v.version})`;
  return keyEquals(sql`${i}.url`, v.url);
}

/** :identifier matches Reference.identifier, indexed as token rows of parameter `code:identifier` (§3.7.4). */
export function compileReference(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  if (c.modifier === 'identifier') {
    return exists(cx, 'idx_token', scope, `${c.code}:identifier`, any((c.values as TokenValue[]).map((v) => tokenMatch(i, v, false))));
  }
  return exists(cx, 'idx_reference', scope, c.code, any((c.values as ReferenceValue[]).map((v) => referenceMatch(i, v))));
}
