/** _summary and _elements subsetting — http://hl7.org/fhir/R4/search.html#summary, #elements */
import { badRequest } from '../errors.js';
import type { Definitions } from './definitions.js';
import type { Resource } from './types.js';

export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const ALWAYS = ['resourceType', 'id', 'meta'];

export function parseSummary(value: string | undefined): SummaryMode | undefined {
  if (value === undefined) return undefined;
  if (!['true', 'text', 'data', 'count', 'false'].includes(value)) {
    throw badRequest(`_summary must be one of true, text, data, count, false`);
  }
  return value as SummaryMode;
}

function tagged(resource: Resource): Resource {
  const tags = resource.meta?.tag ?? [];
  if (tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) return resource;
  return { ...resource, meta: { ...resource.meta, tag: [...tags, SUBSETTED] } };
}

function keep(resource: Resource, names: (name: string) => boolean): Resource {
  return tagged(Object.fromEntries(Object.entries(resource).filter(([k]) => ALWAYS.includes(k) || names(k))) as Resource);
}

/** The subset of resource that _summary / _elements ask for, tagged SUBSETTED when anything was removed. */
export function subset(defs: Definitions, resource: Resource, summary?: SummaryMode, elements?: string[]): Resource {
  if (summary === 'true') {
    const s = defs.summaryElements(resource.resourceType);
    return keep(resource, (k) => s.has(k) || (k.startsWith('_') && s.has(k.slice(1))));
  }
  if (summary === 'text') {
    const mandatory = defs.mandatoryElements?.(resource.resourceType) ?? new Set<string>();
    return keep(resource, (k) => k === 'text' || mandatory.has(k));
  }
  if (summary === 'data') return keep(resource, (k) => k !== 'text');
  if (elements && elements.length > 0) {
    const wanted = new Set(elements.map((e) => e.includes('.') ? e.split('.')[1]! : e));
    const mandatory = defs.mandatoryElements?.(resource.resourceType) ?? new Set<string>();
    return keep(resource, (k) => wanted.has(k) || wanted.has(k.replace(/^_/, '')) || mandatory.has(k));
  }
  return resource;
}
