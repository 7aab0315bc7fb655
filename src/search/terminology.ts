/**
 * Token :in, :not-in, :above, :below (http://hl7.org/fhir/R4/search.html#token) over the tenant's own ValueSets and
 * CodeSystems and the R4 core ones (src/terminology), and the store those read the tenant's resources from: every
 * read goes through the compiler's access rule, like any other row a search reaches.
 */
import type { Queryable } from '../db/db.js';
import { sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import { FhirError, badRequest } from '../errors.js';
import type { Json } from '../terminology/codesystem.js';
import type { Kind } from '../terminology/core.js';
import { Terminology, type TerminologyStore } from '../terminology/terminology.js';
import type { Condition, TokenValue, UriValue, ValueCondition } from './ast.js';
import { type CompileContext, table } from './compile/context.js';
import { compileAccess } from './compile/index.js';

/** A ValueSet used by :in/:not-in may stand for at most this many codes (whole code systems count as one). */
const MAX_SEARCH_CODES = 5_000;

/** The tenant's live terminology resources the caller may read: `Type/id`, or a canonical url with an optional version. */
export function terminologyStore(db: Queryable, cx: CompileContext): TerminologyStore {
  const live = (type: Kind) => sql`r.type = ${type} AND NOT r.deleted AND ${compileAccess(cx, { depth: 0, type })}`;
  return {
    async find(type, ref, version) {
      const local = new RegExp(`^${type}/([A-Za-z0-9\\-.]{1,64})$`).exec(ref);
      // By the url index, not the body: bodies may be encrypted (db/vault.ts); the version is checked on the opened body.
      const where = local ? sql`r.id = ${local[1]}` : sql`EXISTS (SELECT 1 FROM ${table(cx, 'idx_uri')} u
        WHERE u.rid = r.rid AND u.type = ${type} AND u.param = 'url' AND u.uri = ${ref})`;
      const rows = await db.query<{ content: Json }>(sql`SELECT r.type, r.id, r.version, ${sealedColumns(cx.schema, 'r')}
        FROM ${table(cx, 'resource')} r WHERE ${live(type)} AND ${where} ORDER BY r.last_updated DESC LIMIT 100`);
      return rows.find((r) => version === undefined || r.content.version === version)?.content;
    },
    async conceptMaps(limit) {
      const rows = await db.query<{ content: Json }>(sql`SELECT r.type, r.id, r.version, ${sealedColumns(cx.schema, 'r')}
        FROM ${table(cx, 'resource')} r WHERE ${live('ConceptMap')} ORDER BY r.last_updated DESC LIMIT ${limit}`);
      return rows.map((r) => r.content);
    },
  };
}

/** Unknown terminology is a bad search (400), not a missing resource. */
async function asSearchError<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof FhirError && e.status === 404) throw badRequest(e.message);
    throw e;
  }
}

/** The code and its descendants (below) or ancestors (above) in a CodeSystem's hierarchy. */
async function subsumption(tx: Terminology, system: string, code: string, below: boolean): Promise<TokenValue[]> {
  const cs = await tx.requireCodeSystem(system);
  const anchor = cs.get(code)?.code ?? code;
  const related = below ? cs.descendants(anchor) : cs.ancestors(anchor);
  return [anchor, ...related].map((c) => ({ kind: 'token', system, code: c }));
}

async function resolveValue(tx: Terminology, c: ValueCondition): Promise<ValueCondition> {
  const values: TokenValue[] = [];
  if (c.modifier === 'in' || c.modifier === 'not-in') {
    for (const v of c.values as UriValue[]) {
      const { codes, systems } = await tx.searchCodes(await tx.valueSet(v.uri, v.version), MAX_SEARCH_CODES);
      values.push(...codes.map((m): TokenValue => ({ kind: 'token', system: m.system, code: m.code })),
        ...systems.map((system): TokenValue => ({ kind: 'token', system })));
    }
  } else {
    for (const v of c.values as TokenValue[]) {
      if (!v.system || v.code === undefined) throw badRequest(`':${c.modifier}' needs system|code (or, for :below, a bare code prefix)`, [c.code]);
      values.push(...await subsumption(tx, v.system, v.code, c.modifier === 'below'));
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
    return asSearchError(() => resolveValue(new Terminology(terminologyStore(db, cx)), c));
  }
  return c;
}
