/** The one place errors become HTTP: FhirError → its status + OperationOutcome; framework errors wrapped; 5xx generic. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type FhirError, badUrlEncoding, bodyTooLarge, contentLengthMismatch, emptyBody, frameworkRefusal, internalError,
  invalidJson, noSuchEndpoint, unreadableRequest, unsupportedContentType } from '../errors.js';
import { toOutcome } from '../fhir/outcome.js';
import { toFhirError } from '../db/errors.js';
import { FHIR_JSON } from './content.js';

/** Fastify's own client errors by code (fhir-rest.md §1.6: wrap framework errors). */
const FRAMEWORK_ERRORS: Record<string, () => FhirError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: unsupportedContentType,
  FST_ERR_CTP_BODY_TOO_LARGE: bodyTooLarge,
  FST_ERR_CTP_EMPTY_JSON_BODY: emptyBody,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: contentLengthMismatch,
  FST_ERR_BAD_URL: badUrlEncoding,
};

/** A Fastify client error as a FhirError; undefined for its 5xx, which are bugs. */
function fromFramework(e: FastifyError): FhirError | undefined {
  const status = e.statusCode ?? 500;
  if (status >= 500) return undefined;
  const known = e.code && Object.hasOwn(FRAMEWORK_ERRORS, e.code) ? FRAMEWORK_ERRORS[e.code] : undefined;
  if (known) return known();
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return invalidJson();
  return frameworkRefusal(status, e.message);
}

export function sendOutcome(reply: FastifyReply, e: FhirError, pretty = false): FastifyReply {
  const body = toOutcome(e.issues);
  return reply.code(e.status).type(FHIR_JSON).send(pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body));
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const fhir = toFhirError(error) ?? fromFramework(error as FastifyError);
  if (fhir) {
    // A server-side refusal (a stored body that does not decrypt, a timeout): logged by what it names, never content.
    if (fhir.status >= 500) request.log.error({ err: { type: fhir.name, status: fhir.status, code: fhir.issue } }, fhir.message);
    for (const [k, v] of Object.entries(fhir.headers)) reply.header(k, v);
    if (fhir.status === 401 && !fhir.headers['WWW-Authenticate']) reply.header('WWW-Authenticate', 'Bearer realm="hearth"');
    return sendOutcome(reply, fhir);
  }
  // Bugs and infrastructure failures: logged with the request id, answered generically. The message is left out
  // because driver messages can quote data values (PHI); the error class, SQLSTATE and stack frames locate the bug.
  const frames = (error.stack ?? '').split('\n').slice(1).join('\n');
  request.log.error({ err: { type: error.name, code: (error as { code?: unknown }).code, frames } }, 'request failed');
  return sendOutcome(reply, internalError(request.id));
}

/** Errors Fastify raises before routing (a URL that does not decode, issue #12): an OperationOutcome like the rest. */
export function frameworkErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  return sendOutcome(reply, fromFramework(error) ?? unreadableRequest());
}

export function notFoundHandler(_request: FastifyRequest, reply: FastifyReply) {
  return sendOutcome(reply, noSuchEndpoint());
}
