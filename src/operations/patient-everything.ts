/** Patient/[id]/$everything, paged — http://hl7.org/fhir/R4/patient-operation-everything.html */
import { methodNotAllowed, notFound } from '../errors.js';
import { parseInstant } from '../fhir/datetime.js';
import type { Context, Deps, FhirRequest, FhirResult, Params } from '../interactions/context.js';
import { searchTarget } from '../interactions/search.js';
import { inPatientCompartment, patientCompartment, patientCompartmentCondition } from '../search/compartment.js';
import { readCurrent } from '../storage/resources.js';
import { badRequest } from '../errors.js';
import { checkVisible } from '../interactions/read.js';

/** _since (an instant) becomes _lastUpdated=ge…; _type narrows the compartment types; _count pages. */
function everythingQuery(req: FhirRequest): { query: Params; types: string[] } {
  const listed = req.query.filter(([k, v]) => k === '_type' && v !== '').flatMap(([, v]) => v.split(','));
  for (const t of listed) if (!inPatientCompartment(t)) throw badRequest(`_type: ${t} is not in the Patient compartment`, ['_type']);
  const query = req.query.map(([k, v]): [string, string] => {
    if (k !== '_since') return [k, v];
    parseInstant(v, '_since');
    return ['_lastUpdated', `ge${v}`];
  });
  return { query, types: listed.length > 0 ? [...new Set(listed)] : [...patientCompartment().keys()] };
}

/**
 * Every resource in the patient's compartment as matches, and what they refer to (Practitioner, Organization,
 * Medication …) as includes, page by page; an unknown or deleted patient → 404.
 */
export async function patientEverything(deps: Deps, ctx: Context, req: FhirRequest, id: string): Promise<FhirResult> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('$everything is invoked with GET');
  const patient = await readCurrent(ctx.tx ?? deps.db, ctx.tenant.schema, 'Patient', id);
  if (!patient || patient.deleted) throw notFound('Patient', id);
  await checkVisible(deps, ctx, 'Patient', id, patient);
  const { query, types } = everythingQuery(req);
  return searchTarget(deps, ctx, { ...req, query }, {
    types, typeApplied: true, path: `Patient/${id}/$everything`,
    conditions: [patientCompartmentCondition(id)],
    include: [{ source: '*', param: '*', iterate: false }],
  });
}
