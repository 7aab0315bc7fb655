/**
 * The patients a resource belongs to (Patient compartment membership): for BALP's patient entity (audit-event.md §3.7)
 * and for erasure, which asks it of every stored version (storage/erase.ts).
 */
import type { Resource } from '../fhir/types.js';
import { patientCompartment } from './compartment.js';
import { compileIndexPlans } from './extract.js';
import type { Evaluator } from './extract-path.js';
import { referenceRows } from './extract-text.js';
import type { ReferenceRow, TokenRow } from './extract-types.js';
import type { SearchRegistry } from './registry.js';

type Json = Record<string, unknown>;

const cache = new WeakMap<SearchRegistry, Map<string, Evaluator[]>>();

/** The compiled expressions of the compartment parameters of type (e.g. Observation: subject, performer). */
function evaluatorsFor(registry: SearchRegistry, type: string): Evaluator[] {
  let byType = cache.get(registry);
  if (!byType) cache.set(registry, byType = new Map());
  let found = byType.get(type);
  if (!found) {
    const params = new Set(patientCompartment().get(type) ?? []);
    found = compileIndexPlans(registry).forType(type).filter((p) => params.has(p.plan.def.code)).flatMap((p) => p.evaluators);
    byType.set(type, found);
  }
  return found;
}

/** 'Patient/[id]' of every patient whose compartment holds the resource (a Patient is in its own). */
export function patientsOf(registry: SearchRegistry, resource: Resource | undefined): string[] {
  if (!resource) return [];
  if (resource.resourceType === 'Patient') return resource.id ? [`Patient/${resource.id}`] : [];
  const out = new Set<string>();
  const json = resource as unknown as Json;
  for (const evaluate of evaluatorsFor(registry, resource.resourceType)) {
    const refs: ReferenceRow[] = [];
    const ignored: TokenRow[] = [];
    try {
      for (const f of evaluate(json, json)) referenceRows(f, '', refs, ignored);
    } catch {
      continue; // a data shape the expression does not expect references no patient
    }
    for (const r of refs) if (r.ref_type === 'Patient' && r.ref_id) out.add(`Patient/${r.ref_id}`);
  }
  return [...out];
}
