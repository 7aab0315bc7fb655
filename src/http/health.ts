/** Liveness and readiness probes and the Prometheus counters (ARCHITECTURE §10). */
import type { FastifyInstance } from 'fastify';
import { CONTROL_SCHEMA, isMigrated } from '../db/migrate.js';
import { sql } from '../db/sql.js';
import type { Deps } from '../interactions/context.js';

export function registerHealthRoutes(app: FastifyInstance, deps: Deps): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    try {
      await deps.db.query(sql`SELECT 1`);
      if (!(await isMigrated(deps.db, CONTROL_SCHEMA, deps.migrations.control))) {
        return reply.code(503).send({ status: 'unavailable', reason: 'migrations pending' });
      }
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });
  app.get('/metrics', async (_req, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.render()));
}
