/** Compartment search: GET [base]/Patient/[id]/[type] and /Patient/[id]/* — http://hl7.org/fhir/R4/search.html#compartments */
import { badRequest } from '../errors.js';
import { inPatientCompartment, patientCompartment, patientCompartmentCondition } from '../search/compartment.js';
import type { Context, Deps } from './context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { searchParams, searchTarget } from './search.js';

/** `*` → every compartment type, narrowed by `_type`; a type outside the compartment → 400 (fhir-search.md §8.4). */
function compartmentTypes(req: FhirRequest, type: string): string[] {
  if (type !== '*') {
    if (!inPatientCompartment(type)) throw badRequest(`${type} is not in the Patient compartment`);
    return [type];
  }
  const listed = searchParams(req).filter(([k, v]) => k === '_type' && v !== '').flatMap(([, v]) => v.split(','));
  for (const t of listed) if (!inPatientCompartment(t)) throw badRequest(`_type: ${t} is not in the Patient compartment`, ['_type']);
  return listed.length > 0 ? [...new Set(listed)] : [...patientCompartment().keys()];
}

/**
 * The search on [type] restricted to Patient/[id]'s compartment: an unknown patient gives an empty Bundle, not a
 * 404 (fhir-search.md §8.3).
 */
export async function compartmentSearch(deps: Deps, ctx: Context, req: FhirRequest, compartment: string, id: string,
  type: string): Promise<FhirResult> {
  if (compartment !== 'Patient') throw badRequest(`Only the Patient compartment is supported, not ${compartment}`);
  const types = compartmentTypes(req, type);
  return searchTarget(deps, ctx, req, { types, typeApplied: type === '*', path: `Patient/${id}/${type}`,
    conditions: [patientCompartmentCondition(id)] });
}
