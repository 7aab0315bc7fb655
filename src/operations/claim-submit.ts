/**
 * Claim/$submit: stores the Claim, adjudicates it against the patient's Coverage and the fee schedule, and stores and
 * returns the ClaimResponse — http://hl7.org/fhir/R4/claim-operation-submit.html (issue #18 §5). Both writes and the
 * reads they rest on share one transaction: a refusal leaves neither. A claim that cannot be paid (no Coverage, an
 * inactive or expired one, an item without a fee) is not a failure of the operation: it is a ClaimResponse with
 * outcome `error` or `partial` and the reasons.
 */
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { badRequest, methodNotAllowed } from '../errors.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { Resource } from '../fhir/types.js';
import { type Context, type Deps, inTransaction, writeGuard } from '../interactions/context.js';
import { versionResult } from '../interactions/read.js';
import { type Versioned, readCurrent } from '../storage/resources.js';
import { writeResource } from '../storage/write.js';
import { checkResourceBody } from '../validation/check.js';
import { adjudicate, coverageReference } from '../workflows/billing-adjudicate.js';
import { localId } from '../workflows/amend.js';

interface Parameter { name?: string; resource?: unknown }

/** The Claim: the body itself, or the `resource` parameter of a Parameters body. */
function claimOf(body: unknown): unknown {
  const parameters = body as { resourceType?: unknown; parameter?: Parameter[] } | undefined;
  if (parameters?.resourceType !== 'Parameters') return body;
  const named = (Array.isArray(parameters.parameter) ? parameters.parameter : []).filter((p) => p?.name === 'resource');
  if (named.length !== 1) throw badRequest('$submit takes one Claim, as the body or as the parameter named resource', ['Parameters.parameter']);
  return named[0]!.resource;
}

/** The Coverage the claim names, if it is on this server, live and readable by the caller (else: not found). */
async function coverageOf(tx: Queryable, ctx: Context, claim: Resource): Promise<Resource | undefined> {
  const id = localId(coverageReference(claim), 'Coverage');
  if (!id) return undefined;
  const current = await readCurrent(tx, ctx.tenant.schema, 'Coverage', id);
  if (!current?.resource || current.deleted) return undefined;
  if (ctx.access && !(await ctx.access.visible(tx, 'Coverage', id, 'r'))) return undefined;
  return current.resource;
}

/** A create through the write path, with the caller's scope checks and its AuditEvent (the Claim's id is the server's). */
async function create(deps: Deps, ctx: Context, tx: Queryable, type: string, resource: Resource): Promise<Versioned> {
  const { versioned } = await writeResource(tx, ctx.tenant.schema, { type, id: crypto.randomUUID(), method: 'POST', resource },
    deps.writeHooks, writeGuard(ctx, type, 'c'));
  return versioned!;
}

export async function claimSubmit(deps: Deps, ctx: Context, req: FhirRequest): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed('$submit is invoked with POST');
  ctx.access?.require('Claim', 'c');
  ctx.access?.require('ClaimResponse', 'c');
  ctx.access?.require('Coverage', 'r');
  const claim = checkResourceBody(deps, claimOf(req.body), 'Claim');
  const response = await inTransaction(deps, ctx, async (tx) => {
    const saved = (await create(deps, ctx, tx, 'Claim', claim)).resource!;
    const built = await adjudicate(tx, ctx.tenant.schema, saved, saved.id!, await coverageOf(tx, ctx, saved), new Date());
    const issues = deps.validator.validate(built);
    if (issues.length > 0) throw new Error(`Built an invalid ClaimResponse: ${issues.map((i) => i.diagnostics).join('; ')}`);
    return create(deps, ctx, tx, 'ClaimResponse', built);
  });
  return versionResult(ctx, response);
}
