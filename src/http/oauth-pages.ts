/** The SMART authorization endpoint and its server-rendered pages (login, patient picker, consent, logout). */
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../interactions/context.js';

export function registerOAuthPages(_app: FastifyInstance, _deps: Deps): void {
  // filled in by the authorization-endpoint work
}
