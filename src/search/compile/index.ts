/** Search AST → SQL boolean over the resource alias, dispatched by parameter type — http://hl7.org/fhir/R4/search.html */
import { type Sql, join, sql } from '../../db/sql.js';
import type { ByTypeCondition, CompartmentCondition, Condition, MissingCondition, ReferencedFromCondition, ValueCondition } from '../ast.js';
import { compileChain, compileHas } from './chain.js';
import { compileComposite } from './composite.js';
import { type CompileContext, INDEX_TABLES, type Scope, any, exists, notExists, resourceAlias, table, typeOf } from './context.js';
import { compileDate } from './date.js';
import { compileNumber, compileQuantity } from './number.js';
import { compileReference } from './reference.js';
import { compileList, compileOnResource, isColumnParam } from './special.js';
import { compileString } from './string.js';
import { compileToken } from './token.js';
import { compileUri } from './uri.js';

export type { AccessRule, CompileContext, Scope } from './context.js';

/** :missing=true → no index row for the parameter; false → at least one (search.html#missing). */
function compileMissing(cx: CompileContext, c: MissingCondition, scope: Scope): Sql {
  if (isColumnParam(c.code)) return c.missing ? sql`FALSE` : sql`TRUE`;
  const t = INDEX_TABLES[c.type as keyof typeof INDEX_TABLES];
  if (!t) throw new Error(`No index table for ${c.type}`);
  return c.missing ? notExists(cx, t, scope, c.code) : exists(cx, t, scope, c.code);
}

function compileValue(cx: CompileContext, c: ValueCondition, scope: Scope): Sql {
  const onResource = compileOnResource(c, scope);
  if (onResource) return onResource;
  switch (c.type) {
    case 'string': return compileString(cx, c, scope);
    case 'token': return compileToken(cx, c, scope);
    case 'reference': return compileReference(cx, c, scope);
    case 'date': return compileDate(cx, c, scope);
    case 'number': return compileNumber(cx, c, scope);
    case 'quantity': return compileQuantity(cx, c, scope);
    case 'uri': return compileUri(cx, c, scope);
    case 'composite': return compileComposite(cx, c, scope);
    default: throw new Error(`Parameter type ${c.type} has no compiler`);
  }
}

/**
 * Referenced as `Type/id` through one of the compartment's parameters for the resource's type; the compartment's
 * own resource belongs to it too (fhir-search.md §8.1, §8.5). Exclusive membership also refuses a reference through
 * those parameters to any other resource of the compartment's type.
 */
function compileCompartment(cx: CompileContext, c: CompartmentCondition, scope: Scope): Sql {
  const r = resourceAlias(scope.depth);
  const pairs = [...c.params].filter(([type]) => scope.type === undefined || type === scope.type)
    .flatMap(([type, params]) => params.map((p) => `${type}.${p}`));
  const ids = c.ids;
  const within = (column: Sql) => (ids === undefined ? sql`${column} = ${c.id}` : typeof ids === 'function' ? ids(column)
    : Array.isArray(ids) ? sql`${column} = ANY(${ids})` : sql`${column} IN (${ids as Sql})`);
  const outside = (column: Sql) => (ids === undefined ? sql`${column} <> ${c.id}` : typeof ids === 'function' ? sql`NOT ${ids(column)}`
    : Array.isArray(ids) ? sql`${column} <> ALL(${ids})` : sql`${column} NOT IN (${ids as Sql})`);
  const refs = sql`EXISTS (SELECT 1 FROM ${table(cx, 'idx_reference')} ci WHERE ci.rid = ${r}.rid AND ci.ref_type = ${c.compartment} AND ${within(sql`ci.ref_id`)} AND ci.type || '.' || ci.param = ANY(${pairs}))`;
  const self = sql`(${typeOf(scope)} = ${c.compartment} AND ${within(sql`${r}.id`)})`;
  const member = scope.type !== undefined && scope.type !== c.compartment ? refs : sql`(${self} OR ${refs})`;
  if (!c.exclusive) return member;
  const others = sql`NOT EXISTS (SELECT 1 FROM ${table(cx, 'idx_reference')} co WHERE co.rid = ${r}.rid AND co.ref_type = ${c.compartment} AND ${outside(sql`co.ref_id`)} AND co.type || '.' || co.param = ANY(${pairs}))`;
  return sql`(${member} AND ${others})`;
}

/** by-type: the row's type picks its condition; with no constant type, one branch per listed type. */
function compileByType(cx: CompileContext, c: ByTypeCondition, scope: Scope): Sql {
  const branch = (type: string, cond: Condition | null) =>
    cond === null ? sql`TRUE` : compileCondition(cx, cond, { depth: scope.depth, type });
  if (scope.type !== undefined) {
    const cond = c.byType.get(scope.type);
    return cond === undefined ? sql`FALSE` : branch(scope.type, cond);
  }
  const r = resourceAlias(scope.depth);
  return any([...c.byType].map(([type, cond]) => sql`(${r}.type = ${type} AND ${branch(type, cond)})`));
}

/** Some live member of the compartment (or its own resource) holds a reference to this resource. */
function compileReferencedFrom(cx: CompileContext, c: ReferencedFromCondition, scope: Scope): Sql {
  const r = resourceAlias(scope.depth);
  const { compartment: k } = c;
  const pairs = [...k.params].flatMap(([type, params]) => params.map((p) => `${type}.${p}`));
  return sql`EXISTS (SELECT 1 FROM ${table(cx, 'idx_reference')} ra JOIN ${table(cx, 'resource')} rm ON rm.rid = ra.rid
    WHERE ra.ref_type = ${typeOf(scope)} AND ra.ref_id = ${r}.id AND NOT rm.deleted
      AND ((rm.type = ${k.compartment} AND rm.id = ${k.id}) OR EXISTS (SELECT 1 FROM ${table(cx, 'idx_reference')} rc
        WHERE rc.rid = rm.rid AND rc.ref_type = ${k.compartment} AND rc.ref_id = ${k.id} AND rc.type || '.' || rc.param = ANY(${pairs}))))`;
}

/**
 * The access rule's condition for the row at scope (TRUE when nothing is narrowed). With no constant type, the row's
 * own type picks its condition among `types` (every resource type when absent); a type the rule forbids never
 * matches. The rule's own conditions are the server's and compile without further narrowing.
 */
export function compileAccess(cx: CompileContext, scope: Scope, types?: Iterable<string>): Sql {
  const { access } = cx;
  if (!access) return sql`TRUE`;
  const trusted: CompileContext = { ...cx, access: undefined, countRows: undefined };
  const one = (type: string): Sql | undefined => {
    const c = access.condition(type);
    return c === false ? undefined : c === null ? sql`TRUE` : compileCondition(trusted, c, { depth: scope.depth, type });
  };
  if (scope.type !== undefined) return one(scope.type) ?? sql`FALSE`;
  const r = resourceAlias(scope.depth);
  const open: string[] = [];
  const shared = new Map<Condition, string[]>(); // one compartment condition serves every type it covers
  const parts: Sql[] = [];
  for (const type of types ?? cx.defs.resourceTypes) {
    const c = access.condition(type);
    if (c === false) continue;
    if (c === null) open.push(type);
    else if (c.kind === 'compartment') shared.set(c, [...shared.get(c) ?? [], type]);
    else parts.push(sql`(${r}.type = ${type} AND ${one(type)!})`);
  }
  for (const [c, ts] of shared) {
    parts.unshift(sql`(${r}.type = ANY(${ts}) AND ${compileCondition(trusted, c, { depth: scope.depth, type: undefined })})`);
  }
  if (open.length > 0) parts.unshift(sql`${r}.type = ANY(${open})`);
  return any(parts);
}

export function compileCondition(cx: CompileContext, c: Condition, scope: Scope): Sql {
  const next = (n: Condition, s: Scope) => compileCondition(cx, n, s);
  const access = (s: Scope) => compileAccess(cx, s);
  switch (c.kind) {
    case 'value': return compileValue(cx, c, scope);
    case 'missing': return compileMissing(cx, c, scope);
    case 'chain': return compileChain(cx, c, scope, next, access);
    case 'has': return compileHas(cx, c, scope, next, access);
    case 'compartment': return compileCompartment(cx, c, scope);
    case 'list': return compileList(cx, c, scope, access);
    case 'any': return any(c.alternatives.map((alt) => sql`(${compileAll(cx, alt, scope)})`));
    case 'by-type': return compileByType(cx, c, scope);
    case 'referenced-from': return compileReferencedFrom(cx, c, scope);
    case 'not': return sql`NOT (${compileCondition(cx, c.condition, scope)})`;
  }
}

/** Every condition for one scope, ANDed (TRUE when there are none). */
export function compileAll(cx: CompileContext, conditions: Condition[], scope: Scope): Sql {
  if (conditions.length === 0) return sql`TRUE`;
  return join(conditions.map((c) => compileCondition(cx, c, scope)), ' AND ');
}
