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

function corsOrigin(req: FastifyRequest): string {
  const origin = req.headers.origin;
  return typeof origin === 'string' && origin !== 'null' ? origin : '*';
}

export function registerHooks(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
    const sent = req.headers['x-request-id'];
    if (typeof sent === 'string' && sent !== req.id) reply.header('X-Correlation-Id', sent.slice(0, 256));
    reply.header('Access-Control-Allow-Origin', corsOrigin(req));
    reply.header('Vary', 'Origin');
    reply.header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Date', new Date().toUTCString());
    if (req.method === 'OPTIONS') {
      reply.header('Access-Control-Allow-Methods', ALLOW_METHODS);
      reply.header('Access-Control-Allow-Headers', ALLOW_HEADERS);
      reply.header('Access-Control-Max-Age', '600');
      return reply.code(204).send();
    }
  });
}
