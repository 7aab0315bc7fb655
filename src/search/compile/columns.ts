/**
 * A column-backed compile target: parsed search conditions compiled to a table's own columns rather than to the
 * idx_* side tables, for a type whose table is special (AuditEvent's audit_event) — http://hl7.org/fhir/R4/search.html#ptypes
 */
import { type Sql, ident, join, sql } from '../../db/sql.js';
import { badRequest } from '../../errors.js';
import type { Params } from '../../fhir/types.js';
import type { Condition, DateValue, ReferenceValue, StringValue, TokenValue, UriValue, ValueCondition } from '../ast.js';
import { escapeLike } from '../escape.js';
import { pointMatch } from './date.js';

/** How one parameter's values meet its column. */
export type ColumnTarget =
  /** date → a timestamptz column. */
  | { kind: 'instant'; column: string }
  /** token → text[] of 'system|code' keys ('|code' without a system). */
  | { kind: 'token-keys'; column: string }
  /** token → a text column holding the code (any system). */
  | { kind: 'code'; column: string }
  /** token → text[] of codes (any system). */
  | { kind: 'codes'; column: string }
  /** uri → text[] of uris. */
  | { kind: 'uris'; column: string }
  /** reference → text[] of 'Type/id'; a bare id stands for each of bareTypes. */
  | { kind: 'references'; column: string; bareTypes: readonly string[] }
  /** reference → a text column holding 'Type/id', an identifier value or an absolute url. */
  | { kind: 'reference-text'; column: string }
  /** string → text[]: case-insensitive starts-with, :exact exact. */
  | { kind: 'strings'; column: string }
  /** Anything the table does its own way (a primary-key lookup). */
  | { kind: 'custom'; compile: (c: ValueCondition) => Sql };

export interface ColumnParam {
  target: ColumnTarget;
  /** Supported modifiers and the target each searches (the parameter's own when they share it). */
  modifiers?: Readonly<Record<string, ColumnTarget>>;
  /** Another modifier is a 400 rather than an unknown parameter. */
  refuseOtherModifiers?: boolean;
}

/** The searchable parameters of a column-backed type, by code; each must also be a SearchParameter of the type. */
export type ColumnParams = Readonly<Record<string, ColumnParam>>;

/** Result parameters a column target honours; the parser reads them. */
const RESULT = new Set(['_count', '_sort', '_page']);
/** Result parameters it accepts and ignores (no summaries, no totals). */
const IGNORED = new Set(['_total', '_format', '_pretty', '_summary', '_elements']);

/**
 * The query parameters the column target can answer, for the ordinary parser; those it cannot are listed as unknown
 * (lenient: ignored; strict: 400), as unknown parameters are. Empty values are dropped (§1.6) before asking.
 */
export function columnParams(params: ColumnParams, query: Params): { accepted: Params; unknown: string[] } {
  const accepted: Params = [];
  const unknown: string[] = [];
  for (const [key, value] of query) {
    if (RESULT.has(key)) { accepted.push([key, value]); continue; }
    if (IGNORED.has(key) || value.split(',').every((v) => v === '')) continue;
    const [code, modifier] = key.split(':') as [string, string | undefined];
    const param = Object.hasOwn(params, code) ? params[code] : undefined;
    if (param && modifier !== undefined && !param.modifiers?.[modifier] && param.refuseOtherModifiers) {
      throw badRequest(`Modifier :${modifier} is not supported on ${code}`, [key]);
    }
    if (!param || (modifier !== undefined && !param.modifiers?.[modifier])) unknown.push(key);
    else accepted.push([key, value]);
  }
  return { accepted, unknown };
}

function tokenKeys(column: string, values: TokenValue[]): Sql {
  const exact: string[] = [];
  const patterns: string[] = [];
  for (const v of values) {
    // 'code' is any key ending '|code', 'system|' any key starting so; rows may also hold 'code' and 'system|' whole
    if (v.system === undefined) { exact.push(v.code ?? ''); patterns.push(`%|${escapeLike(v.code ?? '')}`); }
    else if (v.code === undefined) { exact.push(`${v.system ?? ''}|`); patterns.push(`${escapeLike(`${v.system ?? ''}|`)}%`); }
    else exact.push(`${v.system ?? ''}|${v.code}`);
  }
  return sql`EXISTS (SELECT 1 FROM unnest(${ident(column)}) k WHERE k = ANY(${exact}::text[]) OR k LIKE ANY(${patterns}::text[]))`;
}

function referenceKeys(c: ValueCondition, bareTypes: readonly string[]): string[] {
  return (c.values as ReferenceValue[]).flatMap((v) => {
    if (v.type !== undefined && v.id !== undefined) return [`${v.type}/${v.id}`];
    if (v.id !== undefined) return bareTypes.map((t) => `${t}/${v.id}`);
    throw badRequest(`'${v.url ?? ''}' is not a reference this server can search for '${c.code}'`, [c.code]);
  });
}

function referenceText(v: ReferenceValue): string {
  if (v.id !== undefined) return v.type !== undefined ? `${v.type}/${v.id}` : v.id;
  return v.version !== undefined ? `${v.url ?? ''}|${v.version}` : v.url ?? '';
}

function strings(column: string, c: ValueCondition): Sql {
  const alternatives = (c.values as StringValue[]).map(({ text }) => (c.modifier === 'exact'
    ? sql`${text} = ANY(${ident(column)})`
    : sql`EXISTS (SELECT 1 FROM unnest(${ident(column)}) a WHERE lower(a) LIKE ${`${escapeLike(text.toLowerCase())}%`})`));
  return sql`(${join(alternatives, ' OR ')})`;
}

const EXPECTS: Record<ColumnTarget['kind'], string | undefined> = {
  instant: 'date', 'token-keys': 'token', code: 'token', codes: 'token', uris: 'uri', references: 'reference',
  'reference-text': 'reference', strings: 'string', custom: undefined,
};

function compileValue(t: ColumnTarget, c: ValueCondition): Sql {
  const expected = EXPECTS[t.kind];
  // a tenant SearchParameter of another type under the same code cannot be answered from these columns
  const valueKind = c.modifier === 'identifier' ? 'token' : c.type;
  if (expected !== undefined && valueKind !== expected) throw badRequest(`'${c.code}' cannot be searched as ${c.type} here`, [c.code]);
  const codes = () => (c.values as TokenValue[]).map((v) => v.code ?? '');
  switch (t.kind) {
    case 'instant': return sql`(${join((c.values as DateValue[]).map((v) => pointMatch(sql`${ident(t.column)}`, v)), ' OR ')})`;
    case 'token-keys': return tokenKeys(t.column, c.values as TokenValue[]);
    case 'code': return sql`${ident(t.column)} = ANY(${codes()}::text[])`;
    case 'codes': return sql`${ident(t.column)} && ${codes()}::text[]`;
    case 'uris': return sql`${ident(t.column)} && ${(c.values as UriValue[]).map((v) => v.uri)}::text[]`;
    case 'references': return sql`${ident(t.column)} && ${referenceKeys(c, t.bareTypes)}::text[]`;
    case 'reference-text': return sql`${ident(t.column)} = ANY(${(c.values as ReferenceValue[]).map(referenceText)}::text[])`;
    case 'strings': return strings(t.column, c);
    case 'custom': return t.compile(c);
  }
}

/** One condition over the columns; conditions the parser gives only for other parameters (chains, _has …) are bugs. */
export function compileColumns(params: ColumnParams, c: Condition): Sql {
  if (c.kind !== 'value') throw new Error(`A column-backed search cannot compile a ${c.kind} condition`);
  const param = params[c.code];
  const target = c.modifier === undefined ? param?.target : param?.modifiers?.[c.modifier];
  if (!target) throw new Error(`No column for '${c.code}${c.modifier ? `:${c.modifier}` : ''}'`);
  return compileValue(target, c);
}
