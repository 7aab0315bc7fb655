/** AuditEvent/$verify-chain: re-computes the tenant's audit hash chain — Hearth operation (conformance/OperationDefinition-audit-verify-chain.json) */
import { verifyChain } from '../audit/verify.js';
import { badRequest, insufficientScope } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { type Context, type Deps } from '../interactions/context.js';
import { type FhirRequest, type FhirResult, param } from '../fhir/request.js';

/** `full=true` re-computes every sealed event; by default only those sealed since the last verification (issue #12 §10). */
function fullParameter(req: FhirRequest): boolean {
  const fromBody = ((req.body as { parameter?: { name?: string; valueBoolean?: unknown }[] } | undefined)?.parameter ?? [])
    .find((p) => p.name === 'full')?.valueBoolean;
  const v = param(req.query, 'full') ?? (fromBody === undefined ? undefined : String(fromBody));
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw badRequest(`full must be true or false, not '${v}'`);
}

/**
 * Needs an unrestricted AuditEvent read scope (an auditor's): the report spans every patient's events. Bounded by the
 * statement timeout as a whole: a run that reaches it answers `complete: false`, and the next goes on from there.
 */
export async function verifyChainOperation(deps: Deps, ctx: Context, req: FhirRequest): Promise<FhirResult> {
  if (ctx.access && ctx.access.narrowing('AuditEvent', 'r') !== null) {
    throw insufficientScope('user/AuditEvent.r or system/AuditEvent.r without a patient or query restriction');
  }
  const r = await verifyChain(deps.db, ctx.tenant.schema, deps.config.auditSealSecret,
    { full: fullParameter(req), deadlineMs: deps.config.statementTimeoutMs, statementTimeoutMs: deps.config.statementTimeoutMs });
  const parameter: Record<string, unknown>[] = [
    { name: 'verified', valueBoolean: r.verified },
    { name: 'complete', valueBoolean: r.complete },
    { name: 'seals', valueInteger: r.seals },
    { name: 'events', valueInteger: r.events },
    { name: 'recomputed', valueInteger: r.recomputed },
    { name: 'resumedAfterSeal', valueInteger: r.resumedAfterSeal },
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
