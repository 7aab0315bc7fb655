/** composite parameters: every component matches the same element instance — search.html#composite */
import { type Sql, raw, sql } from '../../db/sql.js';
import type { CompositeValue, DateValue, NumberValue, QuantityValue, ReferenceValue, StringValue, TokenValue, UriValue, Value, ValueCondition } from '../ast.js';
import { type CompileContext, type Scope, any, exists, indexAlias } from './context.js';
import { rangeMatch } from './date.js';
import { numberMatch, quantityMatch } from './number.js';
import { referenceMatch } from './reference.js';
import { startsWith } from './string.js';
import { tokenMatch } from './token.js';
import { uriMatch } from './uri.js';

/**
 * idx_composite.parts holds, per component (in the parameter's order), an array of that component's extracted
 * values shaped like the rows of its own index table; jsonb_to_recordset types them back.
 */
const RECORD: Record<Value['kind'], string> = {
  token: 'system text, code text, code_ci text, display text',
  quantity: 'system text, code text, unit text, value numeric, lo numeric, hi numeric',
  number: 'value numeric, lo numeric, hi numeric',
  date: 'lo timestamptz, hi timestamptz',
  string: 'norm text, exact text',
  reference: 'ref_type text, ref_id text, ref_version text, url text',
  uri: 'uri text, version text',
  composite: 'parts jsonb',
};

function componentMatch(p: Sql, v: Value): Sql {
  switch (v.kind) {
    case 'token': return tokenMatch(p, v as TokenValue, false);
    case 'quantity': return quantityMatch(p, v as QuantityValue);
    case 'number': return numberMatch(sql`${p}.value`, v as NumberValue);
    case 'date': return rangeMatch(sql`${p}.lo`, sql`${p}.hi`, v as DateValue);
    case 'string': return startsWith(sql`${p}.norm`, (v as StringValue).text);
    case 'reference': return referenceMatch(p, v as ReferenceValue);
    case 'uri': return uriMatch(p, undefined, v as UriValue);
    default: throw new Error('A composite cannot nest a composite');
  }
}

/** Token components as a jsonb containment probe: lets the GIN index on parts narrow the rows first. */
function containment(i: Sql, v: CompositeValue): Sql[] {
  const probes = v.parts.filter((p): p is TokenValue => p.kind === 'token' && (p as TokenValue).code !== undefined)
    .map((p) => ({ code_ci: p.code!.toLowerCase(), ...(typeof p.system === 'string' ? { system: p.system } : {}) }));
  return probes.length === 0 ? [] : [sql`${i}.parts @> ${JSON.stringify(probes.map((p) => [p]))}::jsonb`];
}

function valueMatch(i: Sql, v: CompositeValue): Sql {
  const parts = v.parts.map((part, k) => {
    const p = sql`${raw(`p${k}`)}`;
    return sql`EXISTS (SELECT 1 FROM jsonb_to_recordset(${i}.parts -> ${raw(String(k))}) AS ${p}(${raw(RECORD[part.kind])}) WHERE ${componentMatch(p, part)})`;
  });
  return sql`(${[...containment(i, v), ...parts].reduce((a, b) => sql`${a} AND ${b}`)})`;
}

export function compileComposite(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const i = indexAlias(scope.depth);
  return exists(cx, 'idx_composite', scope, c.code, any((c.values as CompositeValue[]).map((v) => valueMatch(i, v))));
}
