/** Search parameters by resource type and code, from the R4 definitions — http://hl7.org/fhir/R4/searchparameter.html */
import type { Definitions, SearchParameterDef } from '../fhir/definitions.js';

export interface SearchRegistry {
  /** Every parameter usable on `type` (its own and those based on Resource/DomainResource), by code. */
  forType(type: string): ReadonlyMap<string, SearchParameterDef>;
  get(type: string, code: string): SearchParameterDef | undefined;
  /** Every parameter definition the registry holds (each once). */
  all(): readonly SearchParameterDef[];
}

export function createSearchRegistry(defs: Definitions, extra: readonly SearchParameterDef[] = []): SearchRegistry {
  const byType = new Map<string, Map<string, SearchParameterDef>>();
  for (const type of defs.resourceTypes) {
    const params = new Map(defs.searchParametersFor(type).map((p) => [p.code, p]));
    for (const p of extra) {
      if (p.base.includes(type) || p.base.includes('Resource') || p.base.includes('DomainResource')) params.set(p.code, p);
    }
    byType.set(type, params);
  }
  const empty = new Map<string, SearchParameterDef>();
  return {
    forType: (type) => byType.get(type) ?? empty,
    get: (type, code) => byType.get(type)?.get(code),
    all: () => [...defs.searchParameters(), ...extra],
  };
}
