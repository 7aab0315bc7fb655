/** AuditEvent/$verify-chain: re-computes the tenant's audit hash chain — Hearth operation (conformance/OperationDefinition-audit-verify-chain.json) */
import { verifyChain } from '../audit/verify.js';
import { insufficientScope } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps, FhirResult } from '../interactions/context.js';

/** Needs an unrestricted AuditEvent read scope (an auditor's): the report spans every patient's events. */
export async function verifyChainOperation(deps: Deps, ctx: Context): Promise<FhirResult> {
  if (ctx.access && ctx.access.narrowing('AuditEvent', 'r') !== null) {
    throw insufficientScope('user/AuditEvent.r or system/AuditEvent.r without a patient or query restriction');
  }
  const r = await verifyChain(deps.db, ctx.tenant.schema, deps.config.auditSealSecret);
  const parameter: Record<string, unknown>[] = [
    { name: 'verified', valueBoolean: r.verified },
    { name: 'seals', valueInteger: r.seals },
    { name: 'events', valueInteger: r.events },
    { name: 'unsealed', valueInteger: r.unsealed },
    { name: 'archivedSeals', valueInteger: r.archivedSeals },
    { name: 'signed', valueBoolean: deps.config.auditSealSecret !== undefined },
    ...(r.brokenSeal !== undefined ? [{ name: 'brokenSeal', valueInteger: r.brokenSeal }] : []),
    ...(r.firstBrokenEvent ? [{ name: 'firstBrokenEvent', valueInteger: r.firstBrokenEvent.seq }] : []),
    ...(r.firstBrokenEvent?.id ? [{ name: 'firstBrokenEventReference', valueReference: { reference: `AuditEvent/${r.firstBrokenEvent.id}` } }] : []),
    { name: 'message', valueString: r.message },
  ];
  return { status: 200, body: { resourceType: 'Parameters', parameter } as Resource };
}
