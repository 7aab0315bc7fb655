/** The Patient compartment as data (CompartmentDefinition-patient, R4 4.0.1) — http://hl7.org/fhir/R4/compartmentdefinition-patient.html */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CompartmentCondition } from './ast.js';

interface CompartmentDefinition {
  resourceType: string;
  code: string;
  resource: { code: string; param?: string[] }[];
}

const FILE = fileURLToPath(new URL('../../search-params/compartmentdefinition-patient.json', import.meta.url));

/** Read at import (boot): a missing or malformed file fails the start, not a request. */
function load(): ReadonlyMap<string, string[]> {
  const def = JSON.parse(readFileSync(FILE, 'utf8')) as CompartmentDefinition;
  if (def.resourceType !== 'CompartmentDefinition' || def.code !== 'Patient' || !Array.isArray(def.resource)) {
    throw new Error(`${FILE} is not the Patient CompartmentDefinition`);
  }
  return new Map(def.resource.filter((r) => r.param && r.param.length > 0).map((r) => [r.code, r.param!]));
}

const PATIENT = load();

export const COMPARTMENT_URL = 'http://hl7.org/fhir/CompartmentDefinition/patient';

/** Resource types in the Patient compartment, each with the parameters that place it there (Patient: link). */
export const patientCompartment = (): ReadonlyMap<string, string[]> => PATIENT;

export const inPatientCompartment = (type: string): boolean => PATIENT.has(type);

/** Members of Patient/[id]'s compartment: referenced through a compartment parameter, or the Patient itself. */
export function patientCompartmentCondition(id: string): CompartmentCondition {
  return { kind: 'compartment', compartment: 'Patient', id, params: PATIENT };
}
