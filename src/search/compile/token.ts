/** token parameters over idx_token: code, system|code, |code, system|, :not, :text, :of-type — search.html#token */
import { type Sql, sql } from '../../db/sql.js';
import type { StringValue, TokenValue, ValueCondition } from '../ast.js';
import { isIdToken } from '../element-types.js';
import { type CompileContext, type Scope, any, exists, indexAlias, notExists } from './context.js';
import { keyEquals, keyStartsWith } from './index-key.js';
import { startsWithWord } from './string.js';

/**
 * One token value over alias i. Codes and identifier values compare case-insensitively through code_ci
 * (project decision, fhir-search.md §3.5.3) unless the element is an `id`; systems compare exactly.
 */
export function tokenMatch(i: Sql, v: TokenValue, exact: boolean): Sql {
  const parts: Sql[] = [];
  if (v.typeSystem !== undefined) parts.push(sql`${i}.type_system = ${v.typeSystem} AND ${i}.type_code = ${v.typeCode}`);
  if (v.system === null) parts.push(sql`${i}.system IS NULL`);
  else if (v.system !== undefined) parts.push(keyEquals(sql`${i}.system`, v.system));
  if (v.code !== undefined) parts.push(exact ? sql`${i}.code = ${v.code}` : keyEquals(sql`${i}.code_ci`, v.code.toLowerCase()));
  return parts.length === 1 ? parts[0]! : sql`(${parts.reduce((a, b) => sql`${a} AND ${b}`)})`;
}

export function compileToken(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  if (c.modifier === 'text') {
    return exists(cx, 'idx_token', scope, c.code, any((c.values as StringValue[]).map((v) => startsWithWord(sql`${i}.display`, v.text))));
  }
  if (c.modifier === 'below') {
    const prefixes = (c.values as TokenValue[]).map((v) => keyStartsWith(sql`${i}.code_ci`, (v.code ?? '').toLowerCase()));
    return exists(cx, 'idx_token', scope, c.code, any(prefixes));
  }
  const def = scope.type !== undefined ? cx.registry.get(scope.type, c.code) : undefined;
  const exact = def !== undefined && scope.type !== undefined && isIdToken(cx.defs, def, scope.type);
  const where = any((c.values as TokenValue[]).map((v) => tokenMatch(i, v, exact)));
  return c.modifier === 'not' ? notExists(cx, 'idx_token', scope, c.code, where) : exists(cx, 'idx_token', scope, c.code, where);
}
