/**
 * Checks a request body before any write: a JSON object of the URL's type that passes the R4 schema (issue #2 §7) and
 * the R4 invariants (issue #15 §3), and
 * the server's rules on content (Invoice totals, issue #18 §5), which may complete it.
 */
import { type FhirError, type Issue, badRequest, invalidResource, invariantFailed } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { checkInvoiceTotals } from './invoice.js';

/** Checks a resource against the R4 schema (src/validation/validate.ts); the server holds one in deps.validator. */
export interface Validator {
  validate(resource: unknown): Issue[];
  /** The R4 invariants a schema-valid resource fails: errors, and warnings when asked (src/validation/invariants.ts). */
  invariants(resource: Record<string, unknown>, warnings: boolean): Issue[];
}

/** `invalid` makes the error of a body the schema refuses: 400 invalidResource, or 422 invalidPatchedResource after a patch. */
export function checkResourceBody(deps: { validator: Validator }, body: unknown, type: string,
  invalid: (issues: Issue[]) => FhirError = invalidResource): Resource {
  if (body === undefined || body === null || (typeof body === 'string' && body.trim() === '')) {
    throw badRequest(`A ${type} resource is required in the body`);
  }
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a JSON object');
  const resourceType = (body as { resourceType?: unknown }).resourceType;
  if (resourceType === undefined) throw badRequest(`The body has no resourceType; a ${type} resource is required`, ['resourceType']);
  if (resourceType !== type) {
    throw badRequest(`The body's resourceType '${String(resourceType)}' does not match the URL type '${type}'`,
      ['resourceType']);
  }
  const issues = deps.validator.validate(body);
  if (issues.length > 0) throw invalid(issues);
  // Invariants (issue #15 §3): a failed error-severity constraint is 422; warnings are $validate's alone.
  const failed = deps.validator.invariants(body as Record<string, unknown>, false);
  if (failed.length > 0) throw invariantFailed(failed);
  return checkInvoiceTotals(body as Resource);
}
