/** The one place errors become HTTP: FhirError → its status + OperationOutcome; framework errors wrapped; 5xx generic. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FhirError, type IssueCode } from '../errors.js';
import { toOutcome } from '../fhir/outcome.js';
import { fromDatabaseError } from '../db/errors.js';
import { FHIR_JSON } from './content.js';

/** Fastify's own client errors, mapped onto FHIR issue codes (fhir-rest.md §1.6: wrap framework errors). */
function fromFramework(e: FastifyError): FhirError | undefined {
  const status = e.statusCode ?? 500;
  if (status >= 500) return undefined;
  const byCode: Record<string, [number, IssueCode, string]> = {
    FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'not-supported', 'Unsupported Content-Type; send application/fhir+json (or '
      + 'application/json, application/json+fhir), application/json-patch+json to PATCH, or application/x-www-form-urlencoded to POST _search'],
    FST_ERR_CTP_BODY_TOO_LARGE: [413, 'too-costly', 'The request body is larger than this server accepts'],
    FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'structure', 'The request body is empty'],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'structure', 'Content-Length does not match the body'],
    FST_ERR_BAD_URL: [400, 'invalid', 'The URL is not valid: a percent-escape does not decode to UTF-8'],
  };
  const mapped = e.code ? byCode[e.code] : undefined;
  if (mapped) return new FhirError(mapped[0], mapped[1], mapped[2]);
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new FhirError(400, 'structure', 'The body is not valid JSON');
  }
  return new FhirError(status, status === 404 ? 'not-found' : 'invalid', e.message);
}

export function sendOutcome(reply: FastifyReply, e: FhirError, pretty = false): FastifyReply {
  const body = toOutcome(e.issues);
  return reply.code(e.status).type(FHIR_JSON).send(pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body));
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const fhir = error instanceof FhirError ? error : fromDatabaseError(error) ?? fromFramework(error as FastifyError);
  if (fhir) {
    for (const [k, v] of Object.entries(fhir.headers)) reply.header(k, v);
    if (fhir.status === 401 && !fhir.headers['WWW-Authenticate']) reply.header('WWW-Authenticate', 'Bearer realm="hearth"');
    return sendOutcome(reply, fhir);
  }
  // Bugs and infrastructure failures: logged with the request id, answered generically. The message is left out
  // because driver messages can quote data values (PHI); the error class, SQLSTATE and stack frames locate the bug.
  const frames = (error.stack ?? '').split('\n').slice(1).join('\n');
  request.log.error({ err: { type: error.name, code: (error as { code?: unknown }).code, frames } }, 'request failed');
  return sendOutcome(reply, new FhirError(500, 'exception', `Internal server error (request ${request.id})`));
}

/** Errors Fastify raises before routing (a URL that does not decode, issue #12): an OperationOutcome like the rest. */
export function frameworkErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  return sendOutcome(reply, fromFramework(error) ?? new FhirError(400, 'invalid', 'The request could not be read'));
}

export function notFoundHandler(_request: FastifyRequest, reply: FastifyReply) {
  return sendOutcome(reply, new FhirError(404, 'not-found', 'No such endpoint'));
}
