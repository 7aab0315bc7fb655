/** What the search engine supports, per type, for the CapabilityStatement — http://hl7.org/fhir/R4/capabilitystatement-definitions.html#CapabilityStatement.rest.resource.searchParam */
import type { SearchParameterDef } from '../fhir/definitions.js';
import { COMPARTMENT_URL } from './compartment.js';
import type { SearchRegistry } from './registry.js';

export interface SearchCapability {
  searchParam: { name: string; definition: string; type: string }[];
  searchInclude: string[];
  searchRevInclude: string[];
}

/** Parameters the engine can evaluate: everything with an expression, plus _text/_content; not _query or special ones. */
export const isSupported = (d: SearchParameterDef): boolean =>
  d.type !== 'special' && d.code !== '_query' && (d.expression !== undefined || d.code === '_text' || d.code === '_content');

const entry = (d: SearchParameterDef) => ({ name: d.code, definition: d.url, type: d.type });

const cache = new WeakMap<SearchRegistry, Map<string, SearchCapability>>();

/**
 * Per type: its supported parameters, `Type:param` includes (and `Type:*`) and the revincludes that target it.
 * Computed once per registry (a tenant's registry is replaced when its parameters change).
 */
export function searchCapabilities(registry: SearchRegistry, types: Iterable<string>): Map<string, SearchCapability> {
  let known = cache.get(registry);
  if (!known) cache.set(registry, known = computeCapabilities(registry, [...types]));
  return known;
}

function computeCapabilities(registry: SearchRegistry, all: string[]): Map<string, SearchCapability> {
  const revinclude = new Map<string, Set<string>>();
  for (const source of all) {
    for (const d of registry.forType(source).values()) {
      if (d.type !== 'reference') continue;
      for (const target of d.target ?? []) {
        if (!revinclude.has(target)) revinclude.set(target, new Set());
        revinclude.get(target)!.add(`${source}:${d.code}`);
      }
    }
  }
  return new Map(all.map((type) => {
    const params = [...registry.forType(type).values()].filter(isSupported).sort((a, b) => a.code.localeCompare(b.code));
    const includes = params.filter((d) => d.type === 'reference').map((d) => `${type}:${d.code}`);
    return [type, {
      searchParam: params.map(entry),
      searchInclude: includes.length > 0 ? [...includes, `${type}:*`] : [],
      searchRevInclude: [...(revinclude.get(type) ?? [])].sort(),
    }];
  }));
}

/** System-level parameters: those every type shares (Resource-level), plus _type. */
export function systemSearchParams(registry: SearchRegistry, anyType: string): SearchCapability['searchParam'] {
  const shared = [...registry.forType(anyType).values()].filter((d) => isSupported(d) && d.base.includes('Resource'));
  return [...shared.map(entry), { name: '_type', definition: 'http://hl7.org/fhir/SearchParameter/Resource-type', type: 'token' }];
}

export const COMPARTMENTS = [COMPARTMENT_URL];
