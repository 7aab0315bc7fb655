/** Token :in, :not-in, :above, :below over ValueSets and CodeSystems stored on the server — http://hl7.org/fhir/R4/search.html#token */
import type { Queryable } from '../db/db.js';
import { sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { Condition, TokenValue, UriValue, ValueCondition } from './ast.js';
import { type CompileContext, table } from './compile/context.js';
import { compileAccess } from './compile/index.js';

type Json = Record<string, unknown>;
interface Concept { code?: string; concept?: Concept[] }
/** Explicit codes, and whole code systems (an include without concepts or filters). */
interface Expansion { codes: TokenValue[]; systems: string[] }

const MAX_DEPTH = 5;
const asArray = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);

/** `ValueSet/[id]` or a canonical url (optionally `|version`) of a live resource of type that the caller may search. */
async function findCanonical(db: Queryable, cx: CompileContext, type: string, ref: string): Promise<Resource | undefined> {
  const local = new RegExp(`^${type}/([A-Za-z0-9\\-.]{1,64})$`).exec(ref);
  const [url, version] = ref.split('|');
  const where = local ? sql`r.id = ${local[1]}` : version
    ? sql`r.content->>'url' = ${url} AND r.content->>'version' = ${version}` : sql`r.content->>'url' = ${url}`;
  const rows = await db.query<{ content: Resource }>(sql`SELECT r.content FROM ${table(cx, 'resource')} r
    WHERE r.type = ${type} AND NOT r.deleted AND ${compileAccess(cx, { depth: 0, type })} AND ${where} ORDER BY r.last_updated DESC LIMIT 1`);
  return rows[0]?.content;
}

function walk(concepts: Concept[], visit: (c: Concept, path: Concept[]) => void, path: Concept[] = []): void {
  for (const c of concepts) {
    visit(c, path);
    walk(asArray<Concept>(c.concept), visit, [...path, c]);
  }
}

/** The code and its descendants (below) or ancestors (above) in a stored CodeSystem's concept hierarchy. */
async function subsumption(db: Queryable, cx: CompileContext, system: string, code: string, below: boolean): Promise<TokenValue[]> {
  const cs = await findCanonical(db, cx, 'CodeSystem', system);
  if (!cs) throw badRequest(`CodeSystem '${system}' is not known to this server`);
  const found: string[] = [];
  walk(asArray<Concept>(cs.concept), (c, path) => {
    if (c.code === code) found.push(code, ...(below ? [] : path.map((p) => p.code!)));
    else if (below && path.some((p) => p.code === code) && c.code) found.push(c.code);
  });
  return [...new Set(found.length > 0 ? found : [code])].map((c) => ({ kind: 'token', system, code: c }));
}

function containsCodes(contains: unknown, out: TokenValue[]): void {
  for (const c of asArray<Json>(contains)) {
    if (typeof c.code === 'string') out.push({ kind: 'token', ...(typeof c.system === 'string' ? { system: c.system } : {}), code: c.code });
    containsCodes(c.contains, out);
  }
}

async function includeCodes(db: Queryable, cx: CompileContext, include: Json, depth: number, out: Expansion): Promise<void> {
  const system = typeof include.system === 'string' ? include.system : undefined;
  for (const vs of asArray<string>(include.valueSet)) {
    const nested = await expand(db, cx, vs, depth + 1);
    out.codes.push(...nested.codes);
    out.systems.push(...nested.systems);
  }
  for (const f of asArray<Json>(include.filter)) {
    if (!system || f.property !== 'concept' || !['is-a', 'descendent-of'].includes(String(f.op))) {
      throw badRequest(`ValueSet filter '${String(f.property)} ${String(f.op)}' is not supported`);
    }
    const codes = await subsumption(db, cx, system, String(f.value), true);
    out.codes.push(...(f.op === 'descendent-of' ? codes.filter((c) => c.code !== f.value) : codes));
  }
  const concepts = asArray<Json>(include.concept);
  for (const c of concepts) out.codes.push({ kind: 'token', ...(system ? { system } : {}), code: String(c.code) });
  if (system && concepts.length === 0 && asArray(include.filter).length === 0) out.systems.push(system);
}

/** A stored ValueSet's codes: its expansion when it has one, else its compose (minus excluded concepts). */
async function expand(db: Queryable, cx: CompileContext, ref: string, depth = 0): Promise<Expansion> {
  if (depth > MAX_DEPTH) throw badRequest(`ValueSet '${ref}' nests too deeply`);
  const vs = await findCanonical(db, cx, 'ValueSet', ref) as Json | undefined;
  if (!vs) throw badRequest(`ValueSet '${ref}' is not known to this server`);
  const out: Expansion = { codes: [], systems: [] };
  const expansion = vs.expansion as Json | undefined;
  if (expansion?.contains) { containsCodes(expansion.contains, out.codes); return out; }
  const compose = (vs.compose ?? {}) as Json;
  for (const include of asArray<Json>(compose.include)) await includeCodes(db, cx, include, depth, out);
  const excluded = new Set(asArray<Json>(compose.exclude).flatMap((e) => asArray<Json>(e.concept).map((c) => `${String(e.system)}|${String(c.code)}`)));
  out.codes = out.codes.filter((c) => !excluded.has(`${c.system}|${c.code}`));
  return out;
}

async function resolveValue(db: Queryable, cx: CompileContext, c: ValueCondition): Promise<ValueCondition> {
  const values: TokenValue[] = [];
  if (c.modifier === 'in' || c.modifier === 'not-in') {
    for (const v of c.values as UriValue[]) {
      const e = await expand(db, cx, v.version ? `${v.uri}|${v.version}` : v.uri);
      values.push(...e.codes, ...e.systems.map((system): TokenValue => ({ kind: 'token', system })));
    }
  } else {
    for (const v of c.values as TokenValue[]) {
      if (!v.system || v.code === undefined) throw badRequest(`':${c.modifier}' needs system|code (or, for :below, a bare code prefix)`, [c.code]);
      values.push(...await subsumption(db, cx, v.system, v.code, c.modifier === 'below'));
    }
  }
  return { kind: 'value', code: c.code, type: c.type, ...(c.modifier === 'not-in' ? { modifier: 'not' } : {}), values };
}

const TERMINOLOGY = new Set(['in', 'not-in', 'above', 'below']);

/** Replaces terminology modifiers on tokens (at any depth) by plain token conditions over the resolved codes. */
export async function resolveTerminology(db: Queryable, cx: CompileContext, c: Condition): Promise<Condition> {
  if (c.kind === 'chain' || c.kind === 'has') return { ...c, next: await resolveTerminology(db, cx, c.next) };
  if (c.kind === 'value' && c.type === 'token' && c.modifier && TERMINOLOGY.has(c.modifier)) {
    // A code without a system under :below is a prefix (mime types: text/xml finds text/xml; charset=UTF-8, §3.5.8).
    if (c.modifier === 'below' && (c.values as TokenValue[]).every((v) => v.system === undefined)) return c;
    return resolveValue(db, cx, c);
  }
  return c;
}
