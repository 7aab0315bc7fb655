/**
 * What each export level may contain (bulk-data.md §3.3, §8) and which of it the token may have (§1.5, §1.6):
 * system export → every type; Patient and Group export → the Patient compartment types, Patient itself, and the
 * non-compartment resources their data refers to (project decision: Practitioner, Organization, Location, Medication).
 */
import { badRequest, exportTypesOutside, insufficientScope } from '../errors.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Access } from '../auth/access.js';
import { patientCompartment } from '../search/compartment.js';
import type { Problems } from './problems.js';
import type { ExportLevel } from './types.js';

/** Added to Patient/Group exports when a compartment resource (or a Patient in scope) refers to them. */
export const REFERENCED_TYPES: readonly string[] = ['Practitioner', 'Organization', 'Location', 'Medication'];

/** Compartment types, Patient first. */
export function compartmentTypes(): string[] {
  return ['Patient', ...[...patientCompartment().keys()].filter((t) => t !== 'Patient').sort()];
}

function eligibleTypes(defs: Definitions, level: ExportLevel): string[] {
  if (level === 'system') return [...defs.resourceTypes].sort();
  return [...compartmentTypes(), ...REFERENCED_TYPES].filter((t) => defs.isResourceType(t));
}

/**
 * The types to export. Named types must be known (400) and searchable under the token (403: fail the kick-off rather
 * than drop silently, §1.5); one outside the level's types is left out with a warning in the error file unless
 * `Prefer: handling=strict` — but a request naming only such types is a 400 unless lenient (export.html, `_type`).
 * Without _type, every eligible type the token may search (403 when there is none).
 */
export function exportableTypes(defs: Definitions, access: Access, level: ExportLevel, requested: string[] | undefined,
  problems: Problems): string[] {
  const eligible = eligibleTypes(defs, level);
  if (!requested) {
    const allowed = eligible.filter((t) => access.allows(t, 's'));
    if (allowed.length === 0) throw insufficientScope('system/[Type].rs for a type this export contains');
    return allowed;
  }
  const out: string[] = [];
  const outside: string[] = [];
  for (const t of new Set(requested)) {
    if (!defs.isResourceType(t)) throw badRequest(`_type: '${t}' is not a resource type`, ['_type']);
    if (!eligible.includes(t)) {
      outside.push(t);
      continue;
    }
    access.required(t, 's');
    out.push(t);
  }
  const where = `a ${level === 'group' ? 'Group' : 'Patient'}-level export (the Patient compartment)`;
  if (outside.length > 0 && out.length === 0 && !problems.lenient) {
    throw exportTypesOutside(where, outside);
  }
  for (const t of outside) problems.overlook(`_type: ${t} is not part of ${where}`, '_type');
  return out;
}
