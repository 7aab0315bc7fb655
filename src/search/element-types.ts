/** The FHIR data types a SearchParameter's expression selects, for type-specific value rules — search.html#token */
import type { Definitions, SearchParameterDef } from '../fhir/definitions.js';

const cache = new WeakMap<SearchParameterDef, Map<string, readonly string[] | undefined>>();

/** `(Observation.value as Quantity)` / `Observation.value.as(Quantity)` → the path and its cast type. */
function pathOf(member: string): { path: string; cast?: string } | undefined {
  const text = member.trim().replace(/^\((.*)\)$/s, '$1').trim();
  const asOp = /^(.*?)\s+as\s+([A-Za-z]+)$/.exec(text);
  if (asOp) return { path: asOp[1]!.trim(), cast: asOp[2]! };
  const asFn = /^(.*?)\.(?:as|ofType)\(([A-Za-z]+)\)$/.exec(text);
  if (asFn) return { path: asFn[1]!, cast: asFn[2]! };
  const plain = text.replace(/\.where\(.*\)$/s, '');
  return /^[A-Za-z]+(\.[A-Za-z]+)*$/.test(plain) ? { path: plain } : undefined;
}

function compute(defs: Definitions, param: SearchParameterDef, type: string): readonly string[] | undefined {
  if (!param.expression) return undefined;
  const found = new Set<string>();
  for (const member of param.expression.split('|')) {
    const p = pathOf(member);
    if (!p) return undefined;
    if (!p.path.startsWith(`${type}.`) && !p.path.startsWith('Resource.')) continue;
    const path = p.path.startsWith('Resource.') ? `${type}${p.path.slice('Resource'.length)}` : p.path;
    if (p.cast) { found.add(p.cast); continue; }
    const types = defs.elementTypes(type, path);
    if (!types) return undefined;
    types.forEach((t) => found.add(t));
  }
  return found.size > 0 ? [...found] : undefined;
}

/** Element types selected for `type`, or undefined when the expression is too complex to tell. */
export function elementTypes(defs: Definitions, param: SearchParameterDef, type: string): readonly string[] | undefined {
  let byType = cache.get(param);
  if (!byType) cache.set(param, byType = new Map());
  if (!byType.has(type)) byType.set(type, compute(defs, param, type));
  return byType.get(type);
}

const BARE_ONLY = new Set(['boolean', 'uri', 'url', 'canonical', 'oid', 'uuid', 'ContactPoint', 'id']);

/** Token params over boolean, uri, ContactPoint or id elements take only a bare code (fhir-search.md §3.5.2). */
export function isBareToken(defs: Definitions, param: SearchParameterDef, type: string): boolean {
  const types = elementTypes(defs, param, type);
  return types !== undefined && types.every((t) => BARE_ONLY.has(t));
}

/** Token params over `id` elements compare exactly (project decision, fhir-search.md §3.5.3). */
export function isIdToken(defs: Definitions, param: SearchParameterDef, type: string): boolean {
  if (param.code === '_id') return true;
  const types = elementTypes(defs, param, type);
  return types !== undefined && types.every((t) => t === 'id');
}

export function selectsIdentifier(defs: Definitions, param: SearchParameterDef, type: string): boolean {
  const types = elementTypes(defs, param, type);
  return types === undefined || types.includes('Identifier');
}
