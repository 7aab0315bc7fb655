/**
 * Whether a MedicationRequest has been dispensed in full (issue #18 §4): the completed MedicationDispenses that name it
 * in `authorizingPrescription` add up to what it allows, `dispenseRequest.quantity` × (1 + `numberOfRepeatsAllowed`)
 * — http://hl7.org/fhir/R4/medicationrequest-definitions.html#MedicationRequest.dispenseRequest
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import type { Resource } from '../fhir/types.js';
import { lockCurrent } from '../storage/resources.js';

/** The order states a result may complete; a revoked, entered-in-error or already completed order stays as it is. */
export const OPEN_ORDER = new Set(['draft', 'active', 'on-hold']);

interface Quantity { value?: number; unit?: string; system?: string; code?: string }

/** Millionths, as for money: 0.1 + 0.2 tablets must reach 0.3. */
const units = (value: number) => Math.round(value * 1e6);

/** The same unit, when both say which: by UCUM (system + code) if both have a code, else by the unit text. */
function sameUnit(a: Quantity, b: Quantity): boolean {
  if (a.code !== undefined && b.code !== undefined) return a.code === b.code && (a.system ?? '') === (b.system ?? '');
  if (a.unit !== undefined && b.unit !== undefined) return a.unit === b.unit;
  return true;
}

/**
 * The completed dispenses of a prescription, found through the search index of MedicationDispense's `prescription`
 * parameter (the reference rows of authorizingPrescription) rather than by scanning every dispense of the tenant.
 */
async function completedDispenses(tx: Queryable, schema: string, requestId: string): Promise<Resource[]> {
  const s = ident(schema);
  const rows = await tx.query<{ content: Resource }>(sql`SELECT r.type, r.id, r.version, ${sealedColumns(schema, 'r')} FROM ${s}.resource r
    WHERE r.type = 'MedicationDispense' AND NOT r.deleted
      AND r.rid IN (SELECT x.rid FROM ${s}.idx_reference x WHERE x.ref_id = ${requestId}
        AND x.ref_type = 'MedicationRequest' AND x.param = 'prescription' AND x.type = 'MedicationDispense')`);
  return rows.map((r) => r.content).filter((c) => c.status === 'completed');
}

/**
 * True when the open MedicationRequest `requestId` is now dispensed in full. Without a dispense quantity the request
 * asks for one dispense, which the completed dispense being written is. Dispensed quantities in another unit than the
 * request's do not count (they cannot be added up without a conversion the server does not make).
 */
export async function fillsPrescription(tx: Queryable, schema: string, requestId: string): Promise<boolean> {
  // Locked before the dispenses are added up: two dispenses committing at once cannot each miss the other's quantity.
  const current = await lockCurrent(tx, schema, 'MedicationRequest', requestId);
  const request = current?.resource;
  if (!request || current.deleted || !OPEN_ORDER.has(request.status as string)) return false;
  const dispense = request.dispenseRequest as { quantity?: Quantity; numberOfRepeatsAllowed?: number } | undefined;
  const per = dispense?.quantity;
  if (typeof per?.value !== 'number') return true;
  const allowed = units(per.value) * (1 + (dispense!.numberOfRepeatsAllowed ?? 0));
  let dispensed = 0;
  for (const d of await completedDispenses(tx, schema, requestId)) {
    const q = d.quantity as Quantity | undefined;
    if (typeof q?.value === 'number' && sameUnit(q, per)) dispensed += units(q.value);
  }
  return dispensed >= allowed;
}
