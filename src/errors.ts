/** The one error vocabulary: client-caused failures as FhirError, rendered once as an OperationOutcome. */

/** R4 issue-type codes this server uses — http://hl7.org/fhir/R4/valueset-issue-type.html */
export type IssueCode =
  | 'invalid' | 'structure' | 'required' | 'value' | 'invariant' | 'security' | 'login' | 'forbidden'
  | 'not-supported' | 'not-found' | 'deleted' | 'duplicate' | 'multiple-matches' | 'conflict'
  | 'business-rule' | 'too-costly' | 'throttled' | 'exception' | 'processing' | 'informational' | 'timeout'
  | 'lock-error' | 'incomplete' | 'transient' | 'too-long';

export interface Issue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: IssueCode;
  diagnostics: string;
  expression?: string[];
}

export class FhirError extends Error {
  readonly issues: Issue[];
  /** Extra response headers (WWW-Authenticate on 401/403, Retry-After on 429). */
  headers: Record<string, string> = {};
  constructor(readonly status: number, readonly issue: IssueCode, message: string,
              readonly expression?: string[], more: Issue[] = []) {
    super(message);
    this.name = 'FhirError';
    this.issues = [{ severity: 'error', code: issue, diagnostics: message, ...(expression ? { expression } : {}) }, ...more];
  }
}

export const badRequest = (message: string, expression?: string[]) => new FhirError(400, 'invalid', message, expression);
export const invalidResource = (issues: Issue[]) => {
  const [first, ...rest] = issues;
  return new FhirError(400, first?.code ?? 'structure', first?.diagnostics ?? 'Invalid resource', first?.expression, rest);
};
export const unprocessable = (message: string, expression?: string[]) =>
  new FhirError(422, 'business-rule', message, expression);
export const notFound = (type: string, id: string) => new FhirError(404, 'not-found', `${type}/${id} was not found`);
export const versionNotFound = (type: string, id: string, vid: string) =>
  new FhirError(404, 'not-found', `${type}/${id}/_history/${vid} was not found`);
export const gone = (type: string, id: string) => new FhirError(410, 'deleted', `${type}/${id} was deleted`);
export const unknownType = (type: string) =>
  new FhirError(404, 'not-supported', `Resource type '${type}' is not supported`);
export const unknownTenant = (slug: string) => new FhirError(404, 'not-found', `Tenant '${slug}' was not found`);
export const preconditionFailed = (message: string) => new FhirError(412, 'conflict', message);
export const multipleMatches = (message: string) => new FhirError(412, 'multiple-matches', message);
export const conflict = (message: string) => new FhirError(409, 'conflict', message);
export const methodNotAllowed = (message: string) => new FhirError(405, 'not-supported', message);
export const notAcceptable = (message: string) => new FhirError(406, 'not-supported', message);
export const unsupportedMediaType = (message: string) => new FhirError(415, 'not-supported', message);
export const unauthorized = (message: string) => new FhirError(401, 'login', message);
export const forbidden = (message: string) => new FhirError(403, 'forbidden', message);

/** RFC 6750 §3: 401 for a missing or bad token; error omitted when no token was sent. */
export function invalidToken(message: string, sent: boolean): FhirError {
  const e = new FhirError(401, 'login', message);
  e.headers['WWW-Authenticate'] = sent
    ? `Bearer realm="fhir", error="invalid_token", error_description="${message.replace(/["\\]/g, '')}"`
    : 'Bearer realm="fhir"';
  return e;
}

/** RFC 6750 §3.1 insufficient_scope; the message never says whether the resource exists. */
export function insufficientScope(needed: string): FhirError {
  const e = new FhirError(403, 'forbidden', `The access token's scopes do not allow this (needs ${needed})`);
  e.headers['WWW-Authenticate'] = `Bearer realm="fhir", error="insufficient_scope", scope="${needed}"`;
  return e;
}
export const notSupported = (message: string) => new FhirError(501, 'not-supported', message);
export const tooCostly = (message: string) => new FhirError(400, 'too-costly', message);
/** Work cut off by the statement timeout (SQLSTATE 57014, or a Bundle's deadline): 503, retry with less. */
export const timedOut = (message: string) => new FhirError(503, 'timeout', message);
