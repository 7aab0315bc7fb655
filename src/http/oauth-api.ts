/** SMART discovery and the OAuth endpoints clients call directly: token, introspection, revocation, JWKS. */
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../interactions/context.js';

export function registerOAuthApi(_app: FastifyInstance, _deps: Deps): void {
  // filled in by the token-endpoint work
}
