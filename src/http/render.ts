/** Renders an interaction result as HTTP: headers, Prefer: return, _pretty, _summary/_elements — http.html#prefer */
import type { FastifyReply } from 'fastify';
import { httpDate } from '../fhir/etag.js';
import { informational } from '../fhir/outcome.js';
import { parseSummary, subset } from '../fhir/subset.js';
import type { Resource } from '../fhir/types.js';
import type { Deps } from '../interactions/context.js';
import type { Params } from '../fhir/types.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { returnPreference } from '../fhir/request.js';
import { FHIR_JSON } from './content.js';

const SUBSETTABLE = new Set([200]);

function shapeBody(deps: Deps, req: FhirRequest, result: FhirResult): Resource | undefined {
  const body = result.body;
  if (!body) return undefined;
  if (result.write) {
    const ret = returnPreference(req.headers.prefer);
    if (ret === 'minimal') return undefined;
    if (ret === 'OperationOutcome') return informational(`${req.method} ${req.path} succeeded`);
    return body;
  }
  if (!SUBSETTABLE.has(result.status) || body.resourceType === 'Bundle' || body.resourceType === 'OperationOutcome') {
    return body;
  }
  const summary = parseSummary(lastValue(req.query, '_summary'));
  const elements = lastValue(req.query, '_elements')?.split(',').map((e) => e.trim()).filter(Boolean);
  return summary || elements ? subset(deps.defs, body, summary, elements) : body;
}

const lastValue = (q: Params, name: string) => q.filter(([k]) => k === name).pop()?.[1];

export function sendResult(deps: Deps, reply: FastifyReply, req: FhirRequest, result: FhirResult): FastifyReply {
  reply.code(result.status);
  if (result.etag) reply.header('ETag', result.etag);
  if (result.lastModified) reply.header('Last-Modified', httpDate(result.lastModified));
  if (result.location) reply.header('Location', result.location);
  if (result.contentLocation) reply.header('Content-Location', result.contentLocation);
  const body = result.status === 304 ? undefined : shapeBody(deps, req, result);
  if (!body) return reply.send();
  const pretty = lastValue(req.query, '_pretty') === 'true';
  if (pretty) return reply.type(FHIR_JSON).send(JSON.stringify(body, null, 2));
  return reply.type(FHIR_JSON).send(body === result.body && result.json !== undefined ? result.json : JSON.stringify(body));
}
