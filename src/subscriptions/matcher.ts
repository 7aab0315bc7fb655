/**
 * Whether a written resource meets a subscription's criteria, decided in memory from the index rows its write
 * extracted (no round trip: a create with subscriptions keeps its single statement and its group commit). The
 * common parameter kinds are evaluated here with the query compiler's semantics (search/compile/*); anything else
 * (chains, _has, terminology modifiers, full text, numbers, quantities, composites) answers 'sql', and the caller
 * asks the database inside the write transaction instead.
 */
import type { Definitions } from '../fhir/definitions.js';
import type { Resource } from '../fhir/types.js';
import type { Condition, DateValue, ReferenceValue, StringValue, TokenValue, ValueCondition } from '../search/ast.js';
import { approximately } from '../search/compile/date.js';
import { isIdToken } from '../search/element-types.js';
import type { DateRow, IndexRows, ReferenceRow, StringRow, TokenRow } from '../search/extract-types.js';
import { normalizeText } from '../search/normalize.js';
import type { SearchRegistry } from '../search/registry.js';

export type Verdict = boolean | 'sql';

interface Target { type: string; resource: Resource; rows: IndexRows; registry: SearchRegistry; defs: Definitions }

const ms = (s: string): number => (s === '-infinity' ? -Infinity : s === 'infinity' ? Infinity : Date.parse(s));

function tokenMatches(r: TokenRow, v: TokenValue, exact: boolean): boolean {
  if (v.typeSystem !== undefined && (r.type_system !== v.typeSystem || r.type_code !== v.typeCode)) return false;
  if (v.system === null && r.system !== null) return false;
  if (v.system !== undefined && v.system !== null && r.system !== v.system) return false;
  if (v.code !== undefined) return exact ? r.code === v.code : r.code_ci === v.code.toLowerCase();
  return true;
}

function stringMatches(r: StringRow, modifier: string | undefined, v: StringValue): boolean {
  if (modifier === 'exact') return r.exact === v.text;
  const norm = normalizeText(v.text);
  return modifier === 'contains' ? r.norm.includes(norm) : r.norm.startsWith(norm);
}

function referenceMatches(r: ReferenceRow, v: ReferenceValue): boolean {
  if (v.id !== undefined) return r.ref_id === v.id && (v.type === undefined || r.ref_type === v.type);
  if (v.url === undefined) return false;
  return r.url === v.url && (v.version === undefined || r.ref_version === v.version);
}

/** search/compile/date.ts rangeMatch over [lo, hi) in milliseconds. */
function rangeMatches(lo: number, hi: number, v: DateValue): boolean {
  const sLo = v.lo.getTime();
  const sHi = v.hi.getTime();
  const eq = lo >= sLo && lo < sHi && hi <= sHi;
  switch (v.prefix) {
    case 'eq': return eq;
    case 'ne': return !eq;
    case 'gt': return hi > sHi;
    case 'lt': return lo < sLo;
    case 'ge': return hi > sHi || eq;
    case 'le': return lo < sLo || eq;
    case 'sa': return lo >= sHi;
    case 'eb': return hi <= sLo;
    case 'ap': {
      const w = approximately(v);
      return lo < w.hi.getTime() && hi > w.lo.getTime();
    }
  }
}

/** search/compile/date.ts pointMatch. */
function pointMatches(t: number, v: DateValue): boolean {
  const lo = v.lo.getTime();
  const hi = v.hi.getTime();
  switch (v.prefix) {
    case 'eq': return t >= lo && t < hi;
    case 'ne': return t < lo || t >= hi;
    case 'gt': case 'sa': return t >= hi;
    case 'lt': case 'eb': return t < lo;
    case 'ge': return t >= lo;
    case 'le': return t < hi;
    case 'ap': {
      const w = approximately(v);
      return t >= w.lo.getTime() && t < w.hi.getTime();
    }
  }
}

const of = <R extends { param: string }>(rows: R[], code: string): R[] => rows.filter((r) => r.param === code);

function valueVerdict(t: Target, c: ValueCondition): Verdict {
  if (c.code === '_id') {
    const hit = (c.values as TokenValue[]).some((v) => v.code === t.resource.id);
    return c.modifier === 'not' ? !hit : hit;
  }
  if (c.code === '_lastUpdated') {
    const at = Date.parse(String((t.resource.meta as { lastUpdated?: string } | undefined)?.lastUpdated));
    return (c.values as DateValue[]).some((v) => pointMatches(at, v));
  }
  if (c.code.startsWith('_')) return 'sql';
  switch (c.type) {
    case 'token': {
      if (c.modifier !== undefined && c.modifier !== 'not') return 'sql';
      const def = t.registry.get(t.type, c.code);
      const exact = def !== undefined && isIdToken(t.defs, def, t.type);
      const rows = of(t.rows.token, c.code);
      const hit = rows.some((r) => (c.values as TokenValue[]).some((v) => tokenMatches(r, v, exact)));
      return c.modifier === 'not' ? !hit : hit;
    }
    case 'string':
      if (c.modifier !== undefined && c.modifier !== 'exact' && c.modifier !== 'contains') return 'sql';
      return of(t.rows.string, c.code).some((r) => (c.values as StringValue[]).some((v) => stringMatches(r, c.modifier, v)));
    case 'reference':
      if (c.modifier === 'identifier') {
        return of(t.rows.token, `${c.code}:identifier`).some((r) => (c.values as TokenValue[]).some((v) => tokenMatches(r, v, false)));
      }
      if (c.modifier !== undefined) return 'sql';
      return of(t.rows.reference, c.code).some((r) => (c.values as ReferenceValue[]).some((v) => referenceMatches(r, v)));
    case 'date':
      if (c.modifier !== undefined) return 'sql';
      return of(t.rows.date, c.code).some((r: DateRow) => (c.values as DateValue[]).some((v) => rangeMatches(ms(r.lo), ms(r.hi), v)));
    default:
      return 'sql';
  }
}

function missingVerdict(t: Target, c: Extract<Condition, { kind: 'missing' }>): Verdict {
  const table = ({ token: 'token', string: 'string', reference: 'reference', date: 'date', uri: 'uri', number: 'number',
    quantity: 'quantity' } as const)[c.type as 'token'];
  if (!table || c.code.startsWith('_')) return 'sql';
  const present = (t.rows[table] as { param: string }[]).some((r) => r.param === c.code);
  return c.missing ? !present : present;
}

/** All conditions hold (true), one fails (false), or the database must decide ('sql'). */
export function matchInMemory(conditions: readonly Condition[], target: Target): Verdict {
  let undecided = false;
  for (const c of conditions) {
    const v = c.kind === 'value' ? valueVerdict(target, c) : c.kind === 'missing' ? missingVerdict(target, c) : 'sql';
    if (v === false) return false;
    if (v === 'sql') undecided = true;
  }
  return undecided ? 'sql' : true;
}

/** The keys under which a condition's matches must be found (a referenced id, a token's code), when it has them. */
function conditionKeys(c: Condition): string[] | undefined {
  if (c.kind !== 'value' || c.modifier !== undefined || c.code.startsWith('_') || c.values.length === 0) return undefined;
  if (c.type === 'reference') {
    const ids = (c.values as ReferenceValue[]).map((v) => v.id);
    return ids.every((id) => id !== undefined) ? ids.map((id) => `r\0${c.code}\0${id}`) : undefined;
  }
  if (c.type === 'token') {
    const codes = (c.values as TokenValue[]).map((v) => v.code);
    return codes.every((code) => code !== undefined) ? codes.map((code) => `t\0${c.code}\0${code!.toLowerCase()}`) : undefined;
  }
  return undefined;
}

/**
 * A resource type's subscriptions, filed under a value each one's matches must carry — the id its reference condition
 * names (`subject=Patient/1`), else the code of a token condition — so that a write is tested only against those its
 * index rows could meet, plus those with no such condition: with one subscription per patient, a write costs what one
 * subscription costs, not what all of them do. matchInMemory still decides each candidate.
 */
export class CandidateIndex<S extends { conditions: readonly Condition[] }> {
  private readonly always: number[] = [];
  private readonly byKey = new Map<string, number[]>();
  private readonly referenceParams = new Set<string>();
  private readonly tokenParams = new Set<string>();

  constructor(readonly list: readonly S[]) {
    list.forEach((s, i) => {
      const keyed = s.conditions.find((c) => c.kind === 'value' && c.type === 'reference' && conditionKeys(c))
        ?? s.conditions.find((c) => conditionKeys(c));
      if (!keyed || keyed.kind !== 'value') return void this.always.push(i);
      (keyed.type === 'reference' ? this.referenceParams : this.tokenParams).add(keyed.code);
      for (const key of new Set(conditionKeys(keyed))) this.byKey.set(key, [...this.byKey.get(key) ?? [], i]);
    });
  }

  /** The subscriptions a resource with these index rows could meet, in their list's order. */
  candidates(rows: IndexRows): S[] {
    if (this.byKey.size === 0) return [...this.list];
    const hit = new Set(this.always);
    const add = (key: string) => { for (const i of this.byKey.get(key) ?? []) hit.add(i); };
    if (this.referenceParams.size > 0) {
      for (const r of rows.reference) if (r.ref_id !== null && this.referenceParams.has(r.param)) add(`r\0${r.param}\0${r.ref_id}`);
    }
    if (this.tokenParams.size > 0) {
      for (const r of rows.token) {
        if (!this.tokenParams.has(r.param) || r.code === null) continue;
        add(`t\0${r.param}\0${r.code.toLowerCase()}`);
        if (r.code_ci !== null) add(`t\0${r.param}\0${r.code_ci}`);
      }
    }
    return [...hit].sort((a, b) => a - b).map((i) => this.list[i]!);
  }
}
