/**
 * `POST [base]/Patient/[id]/$break-the-glass` (issue #16 §4): a user whose role may break the glass states a reason
 * and gets access to this one patient — past the relationship rule of that role, within its scopes — for the tenant's
 * `break_glass_minutes`. The answer names the session and when it ends; this request and every request of the user
 * while a session is open are audited with purpose of use BTG, and auditors review the sessions through the admin
 * API (`/admin/tenants/<t>/break-glass`).
 */
import { checkText, startBreakGlass } from '../auth/break-glass.js';
import { forbidden, methodNotAllowed, notFound } from '../errors.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { Context, Deps } from '../interactions/context.js';
import { readCurrent } from '../storage/resources.js';
import { operationInputs } from './parameters.js';

export async function breakTheGlass(deps: Deps, ctx: Context, req: FhirRequest, id: string): Promise<FhirResult> {
  if (req.method !== 'POST') throw methodNotAllowed('$break-the-glass is invoked with POST');
  const principal = ctx.access?.principal;
  if (!principal?.roles || !principal.rules.some((r) => r.glass)) {
    throw forbidden('Breaking the glass needs a signed-in user holding a role that allows it (with the app granted its scopes)');
  }
  const reason = checkText(operationInputs(req).one('reason'), 'reason');
  const patient = await readCurrent(deps.db, ctx.tenant.schema, 'Patient', id);
  if (!patient || patient.deleted) throw notFound('Patient', id);
  const session = await startBreakGlass(deps.db, ctx.tenant.schema, principal.subject, id, reason, deps.auth.now());
  if (ctx.audit) ctx.audit.actor = { ...ctx.audit.actor, breakGlass: true };
  return { status: 200, body: { resourceType: 'Parameters', parameter: [
    { name: 'session', valueString: session.id },
    { name: 'patient', valueReference: { reference: `Patient/${id}` } },
    { name: 'expires', valueInstant: session.expiresAt },
  ] } };
}
