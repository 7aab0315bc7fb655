/** Parameters on resource columns and whole resources: _id, _lastUpdated, _text, _content, _list — search.html#all */
import { type Sql, sql } from '../../db/sql.js';
import type { DateValue, ListCondition, StringValue, TokenValue, ValueCondition } from '../ast.js';
import { type CompileContext, type Scope, any, resourceAlias, table, typeOf } from './context.js';
import { pointMatch } from './date.js';

/** _id is exact and case-sensitive (fhir-search.md §5.1). */
function compileId(c: ValueCondition, r: Sql): Sql {
  const ids = (c.values as TokenValue[]).map((v) => v.code ?? '');
  const match = ids.length === 1 ? sql`${r}.id = ${ids[0]}` : sql`${r}.id = ANY(${ids})`;
  return c.modifier === 'not' ? sql`NOT (${match})` : match;
}

/**
 * Full text (project decision: PostgreSQL text search, words ANDed) over the narrative or the whole resource: a row
 * whose body is encrypted (db/vault.ts) keeps the words in `narrative` and `words`, a row in clear is read directly.
 */
function compileText(c: ValueCondition, r: Sql): Sql {
  const doc = c.code === '_text'
    ? sql`coalesce(${r}.narrative, to_tsvector('simple', coalesce(${r}.content #>> '{text,div}', '')))`
    : sql`coalesce(${r}.words, jsonb_to_tsvector('simple', coalesce(${r}.content, '{}'::jsonb), '["string"]'))`;
  return any((c.values as StringValue[]).map((v) => sql`${doc} @@ plainto_tsquery('simple', ${v.text})`));
}

/** Conditions that read the resource row itself; undefined for index-backed parameters. */
export function compileOnResource(c: ValueCondition, scope: Scope): Sql | undefined {
  const r = resourceAlias(scope.depth);
  if (c.code === '_id') return compileId(c, r);
  if (c.code === '_lastUpdated') return any((c.values as DateValue[]).map((v) => pointMatch(sql`${r}.last_updated`, v)));
  if (c.code === '_text' || c.code === '_content') return compileText(c, r);
  return undefined;
}

/** Resource-column parameters always have a value. */
export const isColumnParam = (code: string): boolean => code === '_id' || code === '_lastUpdated';

/** _list=[id]: the resource is an item of that List (search.html#list), a List the caller may search. */
export function compileList(cx: CompileContext, c: ListCondition, scope: Scope, access: (s: Scope) => Sql): Sql {
  const r = resourceAlias(scope.depth);
  const list = { depth: scope.depth + 1, type: 'List' };
  const l = resourceAlias(list.depth);
  // By the List's `item` index rows (List.entry.item), not its body, which may be encrypted (db/vault.ts).
  return sql`EXISTS (SELECT 1 FROM ${table(cx, 'resource')} ${l} JOIN ${table(cx, 'idx_reference')} li ON li.rid = ${l}.rid
    AND li.type = 'List' AND li.param = 'item' WHERE ${l}.type = 'List' AND ${l}.id = ${c.id} AND NOT ${l}.deleted${cx.access ? sql` AND ${access(list)}` : sql``}
    AND li.ref_type = ${typeOf(scope)} AND li.ref_id = ${r}.id)`;
}
