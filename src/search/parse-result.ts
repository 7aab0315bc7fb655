/** Parsing the result parameters (_sort, _count, _total, _elements, _include, _revinclude) — search.html#return */
import { badRequest } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';
import type { IncludeSpec, SortKey, TotalMode } from './ast.js';
import { UnknownParameter } from './parse-condition.js';
import type { SearchRegistry } from './registry.js';

const SORTABLE = new Set(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri']);

/** `_sort=a,-b`: unknown names are UnknownParameter (lenient: dropped); syntax errors and unsortable types → 400. */
export function parseSort(registry: SearchRegistry, types: string[], value: string): { keys: SortKey[]; unknown: string[] } {
  const keys: SortKey[] = [];
  const unknown: string[] = [];
  for (const item of value.split(',')) {
    const m = /^(-?)([A-Za-z_][A-Za-z0-9_-]*)$/.exec(item.trim());
    if (!m) throw badRequest(`'_sort=${value}' is not a comma list of parameter names`, ['_sort']);
    const code = m[2]!;
    const defs = types.map((t) => registry.get(t, code));
    if (defs.some((d) => d === undefined)) { unknown.push(code); continue; }
    if (!defs.every((d) => SORTABLE.has(d!.type) && d!.expression)) {
      throw badRequest(`'${code}' cannot be used to sort`, ['_sort']);
    }
    keys.push({ code, descending: m[1] === '-' });
  }
  return { keys, unknown };
}

/** `_count`: a non-negative integer, clamped to the server maximum (fhir-search.md §6.2). */
export function parseCount(value: string, max: number): number {
  if (!/^\d+$/.test(value)) throw badRequest('_count must be a non-negative integer', ['_count']);
  return Math.min(Number(value), max);
}

export function parseTotal(value: string): TotalMode {
  if (value !== 'none' && value !== 'estimate' && value !== 'accurate') {
    throw badRequest('_total must be none, estimate or accurate', ['_total']);
  }
  return value;
}

export function parseElements(value: string): string[] {
  const names = value.split(',').map((e) => e.trim()).filter(Boolean);
  for (const n of names) {
    if (!/^([A-Z][A-Za-z]+\.)?[a-z][A-Za-z0-9]*(\[x\])?$/.test(n)) throw badRequest(`'${n}' is not an element name`, ['_elements']);
  }
  return names;
}

export function referenceParams(registry: SearchRegistry, source: string): string[] {
  return [...registry.forType(source).values()].filter((d) => d.type === 'reference').map((d) => d.code);
}

/**
 * `Source:param[:Target]`, `Source:*` or `*` (every reference of any resource). The parameter name may carry
 * `:iterate` (or the legacy `:recurse`).
 */
export function parseInclude(registry: SearchRegistry, defs: Definitions, name: string, value: string): IncludeSpec[] {
  const [base, modifier, extra] = name.split(':');
  if (extra !== undefined || (modifier !== undefined && modifier !== 'iterate' && modifier !== 'recurse')) {
    throw badRequest(`'${name}' is not a valid include parameter`, [name]);
  }
  const iterate = modifier !== undefined;
  if (value === '*') return [{ source: '*', param: '*', iterate }];
  const [source = '', param = '', target, more] = value.split(':');
  if (more !== undefined || !defs.isResourceType(source) || param === '') {
    throw badRequest(`${base}=${value}: expected Source:param[:Target]`, [name]);
  }
  if (target !== undefined && !defs.isResourceType(target)) throw badRequest(`${base}=${value}: unknown type ${target}`, [name]);
  if (param === '*') return [{ source, param, iterate, ...(target ? { target } : {}) }];
  const def = registry.get(source, param);
  if (!def || def.type !== 'reference') throw badRequest(`${base}=${value}: '${param}' is not a reference parameter of ${source}`, [name]);
  if (target && def.target && !def.target.includes(target)) throw badRequest(`${base}=${value}: ${target} is not a target of ${param}`, [name]);
  return [{ source, param, iterate, ...(target ? { target } : {}) }];
}

/** `_contained`/`_containedType`: only the defaults are supported in v1 (project decision, §6.9). */
export function checkContained(name: string, value: string): void {
  const known = name === '_contained' ? ['false', 'true', 'both'] : ['container', 'contained'];
  if (!known.includes(value)) throw badRequest(`${name} must be one of ${known.join(', ')}`, [name]);
  if (value !== 'false' && value !== 'container') throw new UnknownParameter(`${name}=${value}`);
}
