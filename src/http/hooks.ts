/** Cross-cutting HTTP behaviour: request ids, CORS, security headers — http.html#custom, #security */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Echo a well-formed client X-Request-Id; otherwise make one (the client's value then goes back as X-Correlation-Id). */
export function genReqId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const sent = req.headers['x-request-id'];
  return typeof sent === 'string' && CLIENT_ID.test(sent) ? sent : crypto.randomUUID();
}

const ALLOW_HEADERS = 'Authorization, Content-Type, Accept, If-Match, If-None-Exist, If-None-Match, If-Modified-Since, Prefer, X-Request-Id';
const EXPOSE_HEADERS = 'ETag, Location, Content-Location, Last-Modified, X-Request-Id, X-Correlation-Id';
const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** The public discovery documents: readable from any origin (no credentials travel with them). */
const DISCOVERY = /^\/(fhir\/[^/]+\/(\.well-known\/smart-configuration|metadata)|auth\/[^/]+\/(jwks|smart-style\.json))\/?$/;

/**
 * The Access-Control-Allow-Origin a request gets (issue #16 §5): `*` for the discovery documents, the request's Origin
 * when HEARTH_CORS_ORIGINS lists it (or is `*`), else none — a browser then keeps the answer from the calling page.
 */
function allowedOrigin(req: FastifyRequest, allowed: readonly string[]): string | undefined {
  if (DISCOVERY.test(req.url.split('?')[0]!)) return '*';
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || origin === 'null') return undefined;
  return allowed.includes('*') || allowed.includes(origin.toLowerCase()) ? origin : undefined;
}

export function registerHooks(app: FastifyInstance, corsOrigins: readonly string[]): void {
  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
    const sent = req.headers['x-request-id'];
    if (typeof sent === 'string' && sent !== req.id) reply.header('X-Correlation-Id', sent.slice(0, 256));
    const allow = allowedOrigin(req, corsOrigins);
    reply.header('Vary', 'Origin');
    if (allow) {
      reply.header('Access-Control-Allow-Origin', allow);
      reply.header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    }
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Date', new Date().toUTCString());
    if (req.method === 'OPTIONS') {
      // A preflight from an origin not allowed gets no Access-Control-* headers: the browser does not send the request.
      if (allow) {
        reply.header('Access-Control-Allow-Methods', ALLOW_METHODS);
        reply.header('Access-Control-Allow-Headers', ALLOW_HEADERS);
        reply.header('Access-Control-Max-Age', '600');
      }
      return reply.code(204).send();
    }
  });
}
