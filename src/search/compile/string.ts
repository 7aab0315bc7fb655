/** string parameters: starts-with, :exact, :contains over idx_string — http://hl7.org/fhir/R4/search.html#string */
import { type Sql, raw, sql } from '../../db/sql.js';
import type { StringValue, ValueCondition } from '../ast.js';
import { escapeLike } from '../escape.js';
import { normalizeText } from '../normalize.js';
import { type CompileContext, type Scope, any, exists, indexAlias } from './context.js';
import { keyStartsWith } from './index-key.js';

/** Normalised starts-with; name parts are also indexed from each later word, so "quinones" finds "Carreno Quinones". */
export const startsWith = (column: Sql, text: string): Sql => sql`${column} LIKE ${`${escapeLike(normalizeText(text))}%`}`;

/** Starts-with on the text or any of its words (token :text on displays, which are indexed whole). */
export function startsWithWord(column: Sql, text: string): Sql {
  const norm = escapeLike(normalizeText(text));
  return sql`(${column} LIKE ${`${norm}%`} OR ${column} LIKE ${`% ${norm}%`})`;
}

function match(column: (name: string) => Sql, modifier: string | undefined, v: StringValue): Sql {
  if (modifier === 'exact') return sql`${column('exact')} = ${v.text}`;
  if (modifier === 'contains') return sql`${column('norm')} LIKE ${`%${escapeLike(normalizeText(v.text))}%`}`;
  return keyStartsWith(column('norm'), normalizeText(v.text));
}

export function compileString(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  const column = (name: string) => sql`${i}.${raw(name)}`;
  const alternatives = (c.values as StringValue[]).map((v) => match(column, c.modifier, v));
  return exists(cx, 'idx_string', scope, c.code, any(alternatives));
}
