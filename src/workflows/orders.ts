/**
 * Orders to results (issue #18 §4): an order's status follows the result that fulfils it — a final DiagnosticReport or
 * an available ImagingStudy completes the ServiceRequests it is `basedOn`; completed MedicationDispenses complete their
 * MedicationRequest once the quantity it allows has been dispensed.
 * http://hl7.org/fhir/R4/workflow.html#statetransitions, http://hl7.org/fhir/R4/servicerequest.html,
 * http://hl7.org/fhir/R4/medicationrequest.html
 */
import type { Queryable } from '../db/db.js';
import type { Resource } from '../fhir/types.js';
import type { Change, WriteHook } from '../storage/write.js';
import { type AllHooks, amend, localIds } from './amend.js';
import { OPEN_ORDER, fillsPrescription } from './orders-dispense.js';

/** A report in one of these states is a final result (amended and corrected reports are final too: R4 valueset-diagnostic-report-status). */
const FINAL_REPORT = new Set(['final', 'amended', 'corrected', 'appended']);

/** Which result types complete a ServiceRequest, and in which of their states. */
const FULFILS: Record<string, (status: unknown) => boolean> = {
  DiagnosticReport: (status) => FINAL_REPORT.has(status as string),
  ImagingStudy: (status) => status === 'available',
};

const statusOf = (r: Resource | undefined): unknown => r?.status;

/** The ServiceRequests a result newly completes: none if an earlier version already was final on the same orders. */
function ordersToComplete(change: Change): string[] {
  const final = FULFILS[change.type]!;
  if (!final(statusOf(change.resource))) return [];
  const ids = localIds(change.resource!.basedOn, 'ServiceRequest');
  if (!change.previous || !final(statusOf(change.previous))) return ids;
  const before = new Set(localIds(change.previous.basedOn, 'ServiceRequest'));
  return ids.filter((id) => !before.has(id));
}

async function completeOrders(tx: Queryable, schema: string, all: AllHooks, ids: string[]): Promise<void> {
  for (const id of ids) {
    await amend(tx, schema, all, 'ServiceRequest', id, (order) =>
      OPEN_ORDER.has(order.status as string) ? { ...order, status: 'completed' } : undefined);
  }
}

export function ordersHook(all: AllHooks): WriteHook {
  return async (tx, schema, change) => {
    // Only the owned types, and before any query: other writes keep their group commit (workflows/index.ts).
    const type = change.type;
    if (type !== 'DiagnosticReport' && type !== 'ImagingStudy' && type !== 'MedicationDispense') return;
    if (change.replay || !change.resource) return;
    if (type === 'MedicationDispense') {
      if (change.resource.status !== 'completed') return;
      for (const id of localIds(change.resource.authorizingPrescription, 'MedicationRequest')) {
        if (!(await fillsPrescription(tx, schema, id))) continue;
        await amend(tx, schema, all, 'MedicationRequest', id, (request) =>
          OPEN_ORDER.has(request.status as string) ? { ...request, status: 'completed' } : undefined);
      }
      return;
    }
    await completeOrders(tx, schema, all, ordersToComplete(change));
  };
}
