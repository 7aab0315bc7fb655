/** Search index values of a resource for every SearchParameter of its type — http://hl7.org/fhir/R4/search.html */
import type { Resource } from '../fhir/types.js';
import type { Found } from './extract-path.js';
import { type ParamPlan, type PlanOptions, type Plans, type ValueType, compilePlans } from './extract-plan.js';
import { dateRows, numberRows, quantityRows } from './extract-ranges.js';
import { referenceRows, stringRows, tokenRows, uriRows } from './extract-text.js';
import { type AnyRow, type CompositeRow, INDEX_TABLES, type IndexRows, emptyRows } from './extract-types.js';
import type { SearchRegistry } from './registry.js';

export type { IndexRows } from './extract-types.js';
export type { Plans, Skipped } from './extract-plan.js';

type Json = Record<string, unknown>;
type Convert = (f: Found, param: string, rows: IndexRows) => void;

const CONVERT: Record<ValueType, Convert> = {
  string: (f, p, rows) => stringRows(f, p, rows.string),
  token: (f, p, rows) => tokenRows(f, p, rows.token),
  reference: (f, p, rows) => referenceRows(f, p, rows.reference, rows.token),
  date: (f, p, rows) => dateRows(f, p, rows.date),
  number: (f, p, rows) => numberRows(f, p, rows.number),
  quantity: (f, p, rows) => quantityRows(f, p, rows.quantity),
  uri: (f, p, rows) => uriRows(f, p, rows.uri),
};

const cache = new WeakMap<SearchRegistry, Plans>();

/** The registry's compiled plans: built on the first call (at boot, from createDeps) and reused. */
export function compileIndexPlans(registry: SearchRegistry, options?: PlanOptions): Plans {
  if (options) return compilePlans(registry, options);
  let plans = cache.get(registry);
  if (!plans) cache.set(registry, plans = compilePlans(registry));
  return plans;
}

/** One value row per component value; the element counts only when every component has a value. */
function compositeRow(plan: ParamPlan, container: Found, resource: Json): CompositeRow | undefined {
  const parts: Omit<AnyRow, 'param'>[][] = [];
  for (const component of plan.components!) {
    const rows = emptyRows();
    const base = container.path ?? container.type ?? '';
    for (const f of component.evaluatorFor(base)(container.value, resource)) CONVERT[component.type](f, '', rows);
    const values = dedupe(rows[component.type] as AnyRow[]).map(({ param: _p, ...value }) => value);
    if (values.length === 0) return undefined;
    parts.push(values);
  }
  return { param: plan.def.code, parts };
}

function extractParam(plan: ParamPlan, found: Found[], resource: Json, rows: IndexRows): void {
  const { code, type } = plan.def;
  if (type === 'composite') {
    for (const container of found) {
      const row = compositeRow(plan, container, resource);
      if (row) rows.composite.push(row);
    }
  } else if (type !== 'special') {
    for (const f of found) CONVERT[type](f, code, rows);
  }
}

/**
 * A row's values in key order, each tagged with its kind and ended by NUL (which stored strings never hold: limits.ts
 * refuses it); a composite's parts as JSON. It tells apart what JSON.stringify(row) does, at a third of its cost on
 * the write path (measured on 2,000 token rows).
 */
function rowKey(row: object): string {
  let key = '';
  for (const v of Object.values(row)) {
    key += v === null ? 'n\u0000' : typeof v === 'string' ? `s${v}\u0000` : `o${JSON.stringify(v)}\u0000`;
  }
  return key;
}

function dedupe<T extends object>(rows: T[]): T[] {
  if (rows.length < 2) return rows;
  const seen = new Set<string>();
  return rows.filter((r) => {
    const key = rowKey(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Index rows per idx_* table for one resource, deduplicated per (param, value). A parameter whose expression or
 * data cannot be evaluated yields no rows; it never fails the write.
 */
export function extractIndexRows(registry: SearchRegistry, resource: Resource, plans = compileIndexPlans(registry),
  onError?: (code: string, error: unknown) => void): IndexRows {
  const rows = emptyRows();
  const json = resource as unknown as Json;
  for (const { plan, evaluators } of plans.forType(resource.resourceType)) {
    try {
      const found = evaluators.length === 1 ? evaluators[0]!(json, json) : evaluators.flatMap((e) => e(json, json));
      extractParam(plan, found, json, rows);
    } catch (e) {
      // A data shape the expression does not expect: this parameter has no value for this resource.
      onError?.(plan.def.code, e);
    }
  }
  for (const table of INDEX_TABLES) (rows[table] as object[]) = dedupe<object>(rows[table]);
  return rows;
}
