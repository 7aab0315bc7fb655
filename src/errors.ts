/**
 * The error catalogue: every OperationOutcome Hearth answers a failure with comes from an entry below, which names
 * its HTTP status, its issue code and the template of its diagnostics. Client-caused failures throw the FhirError an
 * entry builds (`throw notFound('Patient', id)`); bugs throw plain Error and are answered as `internalError`.
 * Rendered once: http/errors.ts (HTTP), interactions/bundle-entry.ts (batch entries), audit/event.ts (audit records).
 * This file imports nothing from the project: it is the bottom layer.
 */

/** R4 issue-type codes this server uses — http://hl7.org/fhir/R4/valueset-issue-type.html */
export const ISSUE_CODES = [
  'invalid', 'structure', 'required', 'value', 'invariant', 'security', 'login', 'forbidden',
  'not-supported', 'not-found', 'deleted', 'duplicate', 'multiple-matches', 'conflict',
  'business-rule', 'too-costly', 'throttled', 'exception', 'processing', 'informational', 'timeout',
  'lock-error', 'incomplete', 'transient', 'too-long', 'code-invalid', 'suspended',
] as const;
export type IssueCode = (typeof ISSUE_CODES)[number];

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

/**
 * What a template makes of its arguments: the diagnostics, or the diagnostics with the rest of this one error — its
 * FHIRPath expression, further issues, response headers, or (rarely, documented at the entry) another issue code.
 */
export type Detail = string | {
  message: string;
  expression?: string[] | undefined;
  code?: IssueCode | undefined;
  more?: Issue[];
  headers?: Record<string, string>;
};

/** A catalogue entry: called with its template's arguments it builds the FhirError; its status and code are data. */
export type CatalogueEntry<A extends unknown[]> = ((...args: A) => FhirError) & { readonly status: number; readonly code: IssueCode };

function entry<A extends unknown[]>(status: number, code: IssueCode, template: (...args: A) => Detail): CatalogueEntry<A> {
  const build = (...args: A): FhirError => {
    const d = template(...args);
    const detail = typeof d === 'string' ? { message: d } : d;
    const e = new FhirError(status, detail.code ?? code, detail.message, detail.expression, detail.more);
    Object.assign(e.headers, detail.headers);
    return e;
  };
  return Object.assign(build, { status, code });
}

/** The first issue leads (its code, or `structure`); the others follow it. */
function ledBy(issues: Issue[]): Detail {
  const [first, ...more] = issues;
  return { message: first?.diagnostics ?? 'Invalid resource', code: first?.code, expression: first?.expression, more };
}

const withExpression = (message: string, expression?: string[]): Detail => ({ message, expression });

// ---- Generic: the caller's message is specific to one place ----

export const badRequest = entry(400, 'invalid', withExpression);
export const unprocessable = entry(422, 'business-rule', withExpression);
export const preconditionFailed = entry(412, 'conflict', (message: string) => message);
export const multipleMatches = entry(412, 'multiple-matches', (message: string) => message);
export const conflict = entry(409, 'conflict', (message: string) => message);
export const methodNotAllowed = entry(405, 'not-supported', (message: string) => message);
export const notAcceptable = entry(406, 'not-supported', (message: string) => message);
export const unsupportedMediaType = entry(415, 'not-supported', (message: string) => message);
export const unauthorized = entry(401, 'login', (message: string) => message);
export const forbidden = entry(403, 'forbidden', (message: string) => message);
export const notSupported = entry(501, 'not-supported', (message: string) => message);
export const tooCostly = entry(400, 'too-costly', (message: string) => message);
/** Work cut off by a deadline: 503, retry with less. */
export const timedOut = entry(503, 'timeout', (message: string) => message);

// ---- Resources ----

/** A body the R4 schema refuses: one issue per fault, the first one's code leading (`structure` by default). */
export const invalidResource = entry(400, 'structure', ledBy);
/** A resource that fails error-severity R4 invariants (issue #15 §3): each issue names the constraint key and element. */
export const invariantFailed = entry(422, 'invariant', ledBy);
/** A resource that does not conform to a tenant profile it claims or the tenant requires, or an unusable profile (issue #15 §4). */
export const profileNotMet = entry(422, 'processing', ledBy);
/** A ValueSet whose compose cannot be used (issue #15 §6). */
export const valueSetInvalid = entry(422, 'invalid', ledBy);
/** A patch whose result the R4 schema refuses: the patch applied, but what it made is not a valid resource. */
export const invalidPatchedResource = entry(422, 'structure', ledBy);
export const notFound = entry(404, 'not-found', (type: string, id: string) => `${type}/${id} was not found`);
export const versionNotFound = entry(404, 'not-found', (type: string, id: string, vid: string) =>
  `${type}/${id}/_history/${vid} was not found`);
export const gone = entry(410, 'deleted', (type: string, id: string) => `${type}/${id} was deleted`);
/** A reference to a resource the tenant does not hold (issue #15 §2): the element named. */
export const referenceTargetMissing = entry(422, 'not-found', (message: string, element?: string) =>
  ({ message, ...(element ? { expression: [element] } : {}) }));
/** A delete that would leave references dangling (issue #15 §2): the referrers named; `_cascade=delete` deletes them too. */
export const referencedByOthers = entry(409, 'conflict', (message: string) => message);
export const unknownType = entry(404, 'not-supported', (type: string) => `Resource type '${type}' is not supported`);

// ---- Access tokens (RFC 6750 §3) ----

/** 401 for a missing or bad token; the error attribute is omitted when no token was sent. */
export const invalidToken = entry(401, 'login', (message: string, sent: boolean) => ({ message, headers: {
  'WWW-Authenticate': sent
    ? `Bearer realm="fhir", error="invalid_token", error_description="${message.replace(/["\\]/g, '')}"`
    : 'Bearer realm="fhir"',
} }));
/** §3.1 insufficient_scope; the message never says whether the resource exists. */
export const insufficientScope = entry(403, 'forbidden', (needed: string) => ({
  message: `The access token's scopes do not allow this (needs ${needed})`,
  headers: { 'WWW-Authenticate': `Bearer realm="fhir", error="insufficient_scope", scope="${needed}"` },
}));

// ---- The HTTP edge: requests that do not reach an interaction ----

export const noSuchEndpoint = entry(404, 'not-found', () => 'No such endpoint');
export const unknownPath = entry(404, 'not-found', () => 'Unknown path');
export const unreadableRequest = entry(400, 'invalid', () => 'The request could not be read');
export const invalidJson = entry(400, 'structure', () => 'The body is not valid JSON');
export const emptyBody = entry(400, 'structure', () => 'The request body is empty');
export const contentLengthMismatch = entry(400, 'structure', () => 'Content-Length does not match the body');
export const bodyTooLarge = entry(413, 'too-costly', () => 'The request body is larger than this server accepts');
export const badUrlEncoding = entry(400, 'invalid', () => 'The URL is not valid: a percent-escape does not decode to UTF-8');
export const unsupportedContentType = entry(415, 'not-supported', () => 'Unsupported Content-Type; send application/fhir+json (or '
  + 'application/json, application/json+fhir), application/json-patch+json to PATCH, or application/x-www-form-urlencoded to POST _search');
/** A bug or an infrastructure failure: generic, so that no SQL, stack or data value reaches the client. */
export const internalError = entry(500, 'exception', (requestId?: string) =>
  requestId === undefined ? 'Internal server error' : `Internal server error (request ${requestId})`);

// ---- Paging (a tampered or expired page token: 410, project decision fhir-rest.md §19.4) ----

export const pageLinkExpired = entry(410, 'not-found', () => 'The page link is invalid or has expired; repeat the original request');
export const pageLinkInvalid = entry(410, 'not-found', () => 'The page link is invalid');

// ---- Batch and transaction Bundles ----

/** A batch entry answers `not-supported`, a transaction entry `invalid` (as they always have). */
export const nestedBundle = entry(400, 'not-supported', (kind: 'batch' | 'transaction') => {
  const message = 'Nested batch/transaction is not allowed';
  return kind === 'batch' ? message : { message, code: 'invalid' };
});
export const unresolvedBundleReference = entry(400, 'invalid', (ref: string) =>
  `The reference '${ref}' names no entry of this Bundle (no entry's fullUrl is ${ref})`);
export const conditionalReferenceUnmatched = entry(404, 'not-found', (ref: string) => `Conditional reference '${ref}' matched nothing`);
export const conditionalReferenceAmbiguous = entry(412, 'multiple-matches', (ref: string, type: string) =>
  `Conditional reference '${ref}' matched more than one ${type}`);
export const bundleTimedOut = entry(503, 'timeout', (kind: 'batch' | 'transaction', timeoutMs: number, index: number) =>
  kind === 'transaction'
    ? `The transaction took longer than the statement timeout (${timeoutMs} ms) and was rolled back at entry ${index}; send smaller Bundles`
    : `Not processed: the batch reached the statement timeout (${timeoutMs} ms) before entry ${index}; send it again`);

// ---- Search ----

/** Strict handling (Prefer: handling=strict) and parameters the server does not know: one issue per parameter. */
export const unknownSearchParameters = entry(400, 'not-supported', (names: string[]) => {
  const [first, ...more] = names.map((u): Issue => ({ severity: 'error', code: 'not-supported',
    diagnostics: `Unknown or unsupported search parameter '${u}'`, expression: [u] }));
  return { message: first?.diagnostics ?? 'Unknown or unsupported search parameter', expression: first?.expression, more };
});

// ---- FHIRPath Patch (operation n is 1-based, as Parameters.parameter[n] is not) ----

export const fhirPathPatchInvalid = entry(400, 'invalid', (n: number, message: string) =>
  withExpression(`FHIRPath Patch operation ${n}: ${message}`, [`Parameters.parameter[${n}]`]));
export const fhirPathPatchUnprocessable = entry(422, 'processing', (n: number, message: string) =>
  withExpression(`FHIRPath Patch operation ${n}: ${message}`, [`Parameters.parameter[${n}]`]));
export const fhirPathResolveOutside = entry(422, 'processing', () => 'FHIRPath Patch: resolve() may only reach contained resources');

// ---- Operations and jobs ----

export const operationNotSupported = entry(404, 'not-supported', (name: string) => `Operation $${name} is not supported here`);
/** An operation that exists elsewhere but not on this type or level (AuditEvent has only the type-level $verify-chain). */
export const operationNotSupportedOn = entry(404, 'not-supported', (name: string, type: string) =>
  `$${name} is not supported on ${type}`);
export const terminologyCapabilitiesNotProvided = entry(404, 'not-supported', () => 'TerminologyCapabilities are not provided');
/** A CodeSystem, ValueSet, ConceptMap or code that terminology operations were asked about and do not know. */
export const terminologyNotFound = entry(404, 'not-found', (message: string, expression?: string[]) => ({ message, expression }));
export const jobNotFound = entry(404, 'not-found', (id: string) => `Job ${id} was not found`);

// ---- Bulk Data export (bulk-data.md): another client's, a cancelled or an expired export is a 404 alike ----

// ---- Bulk $import: a refused input line (reported in the job's outcome file, the job goes on) ----

export const importLineNotJson = entry(400, 'structure', () => 'The line is not valid JSON');
export const importLineNotResource = entry(400, 'structure', () => 'The line is not a FHIR resource');
export const importLineWrongType = entry(400, 'invalid', (type: string, declared: string) =>
  `The line is a ${type}; the input declares ${declared}`);
export const importLineTooLong = entry(413, 'too-costly', (limit: number) => `The line is longer than ${limit} bytes (HEARTH_BODY_LIMIT)`);
export const importLineBadId = entry(400, 'invalid', (id: string) => `The id '${id}' is not a valid FHIR id`);
export const importNotFound = entry(404, 'not-found', (id: string) => `Import ${id} was not found`);

export const exportNotFound = entry(404, 'not-found', (id: string) => `Export ${id} was not found`);
export const exportCancelled = entry(404, 'not-found', (id: string) => `Export ${id} was cancelled`);
export const exportExpired = entry(404, 'not-found', (id: string) => `Export ${id} has expired`);
/** A file name the job did not produce; a client's name is cut to 80 characters. */
export const exportFileNotFound = entry(404, 'not-found', (id: string, name: string) => `Export ${id} has no file ${name.slice(0, 80)}`);
/** 500 either way (a 404 would read as "no such export"); the issue code is the job's own when it knew why (§5.4). */
export const exportFailed = entry(500, 'exception', (id: string, failure?: { code: IssueCode; message: string }) =>
  failure ? { message: `Export ${id} failed: ${failure.message}`, code: failure.code } : `Export ${id} failed; kick off a new one`);
export const groupNotAtTransactionTime = entry(404, 'not-found', (id: string) =>
  `Group/${id} did not exist at the export's transactionTime`);
export const exportTypesOutside = entry(400, 'not-supported', (where: string, outside: string[]) =>
  withExpression(`_type names only types outside ${where}: ${outside.join(', ')}`, ['_type']));
/** Kick-off input the export cannot honour under its `Prefer: handling` (§3.9); the code says what kind of fault. */
export const exportInputRefused = entry(400, 'not-supported', (message: string, expression: string, code?: IssueCode) =>
  ({ message, expression: [expression], code }));
export const exportThrottled = entry(429, 'throttled', (running: number, limit: number, retryAfterS: number) => ({
  message: `This client already has ${running} export(s) in progress (limit ${limit}); wait for one to finish or cancel it`,
  headers: { 'Retry-After': String(retryAfterS) },
}));
/** The FHIR API rate limit of a client or a user of a tenant is spent for this minute (issue #16 §5). */
export const loginThrottled = entry(429, 'throttled', (perMinute: number, retryAfterS: number) => ({
  message: `Too many sign-in attempts from this address (limit ${perMinute} a minute); retry in ${retryAfterS} s`,
  headers: { 'Retry-After': String(retryAfterS) },
}));
export const apiThrottled = entry(429, 'throttled', (who: 'client' | 'user', perMinute: number, retryAfterS: number) => ({
  message: `Too many requests from this ${who} (limit ${perMinute} a minute); retry in ${retryAfterS} s`,
  headers: { 'Retry-After': String(retryAfterS) },
}));
export const rangeNotSatisfiable = entry(416, 'invalid', (range: string | undefined, size: number) => ({
  message: `Range ${range} is outside the file (${size} bytes)`,
  headers: { 'Content-Range': `bytes */${size}` },
}));

// ---- Tenants, clients, users and search parameters (the admin API and the CLI) ----

export const unknownTenant = entry(404, 'not-found', (slug: string) => `Tenant '${slug}' was not found`);
export const tenantSuspended = entry(403, 'suspended', (slug: string) =>
  `Tenant '${slug}' is suspended: its FHIR and SMART endpoints are closed until an administrator reactivates it`);
export const tenantExists = entry(409, 'duplicate', (slug: string) => `Tenant '${slug}' already exists`);
export const invalidTenantSlug = entry(400, 'invalid', () =>
  'Tenant slug must start with a letter and hold only lower-case letters, digits and hyphens (at most 40)');
export const tenantSlugRequired = entry(400, 'required', () => 'The body must be {"slug": "<tenant>"}');
export const clientNotFound = entry(404, 'not-found', (id: string) => `Client '${id}' was not found`);
export const userExists = entry(409, 'duplicate', (username: string) =>
  withExpression(`User '${username}' already exists`, ['username']));
export const userNotFound = entry(404, 'not-found', (id: string) => `User '${id}' was not found`);
export const adminNotFound = entry(404, 'not-found', (id: string) => `Administrator '${id}' was not found`);
export const breakGlassNotFound = entry(404, 'not-found', (id: string) => `Break-the-glass session '${id}' was not found`);
export const roleNotFound = entry(404, 'not-found', (name: string) => `Role '${name}' was not found`);
export const retentionRuleNotFound = entry(404, 'not-found', (name: string) => `Retention rule '${name}' was not found`);
/** A SearchParameter a tenant cannot search with; `path` is the element at fault. */
export const searchParameterUnusable = entry(422, 'business-rule', (message: string, path: string) =>
  withExpression(message, [`SearchParameter.${path}`]));

// ---- Database failures a client can act on (db/errors.ts maps SQLSTATEs onto these) ----

export const statementTimedOut = entry(503, 'timeout', () =>
  'The request took longer than the database statement timeout; narrow it and retry');
export const concurrentChange = entry(409, 'conflict', () => 'A concurrent change conflicted with this request; retry it');
export const concurrentCreate = entry(409, 'duplicate', () => 'A concurrent request created the same resource; retry it');
export const databaseUnavailable = entry(503, 'transient', () =>
  'The database is not accepting connections right now; retry shortly');

// ---- Derived: errors made from another failure rather than from an entry ----

/** The same failure (status, code) told anew: a transaction names the entry that failed. */
export const restated = (e: FhirError, message: string, expression?: string[]): FhirError =>
  new FhirError(e.status, e.issue, message, expression);

/** A client error the web framework raised that the catalogue does not name: its own status and message. */
export const frameworkRefusal = (status: number, message: string): FhirError =>
  new FhirError(status, status === 404 ? 'not-found' : 'invalid', message);

/**
 * A stored resource whose ciphertext does not decrypt under its tenant's key (tampered, swapped between rows, or a
 * destroyed key): never answered with wrong data (issue #17 §1). Names the row, never its content.
 */
export const sealedUnreadable = entry(500, 'exception', (type: string, id: string, version: number) =>
  `${type}/${id}/_history/${version} cannot be read: its stored ciphertext does not decrypt under the tenant's key (tampered or swapped data)`);

/** A bulk file on disk whose frames do not decrypt or do not fit together (tampered, truncated, swapped, destroyed key). */
export const fileUnreadable = entry(500, 'exception', (name: string) =>
  `The file ${name} cannot be read: its stored ciphertext does not decrypt under the tenant's key (tampered, truncated or swapped data)`);
