/**
 * Bench child process for the PostgreSQL baselines: a minimal Fastify read route and the raw SQL work over a plain
 * pg.Pool. It imports nothing of Hearth but its migrations (so the scratch tables match), keeping its RSS a floor.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrations, migrateSchema } from '../src/db/migrate.js';
import { openPostgres } from '../src/db/postgres.js';
import { Vault } from '../src/db/vault.js';
import { pgRawDb } from './raw/db.js';
import { createRawHost } from './raw/host.js';
import { type ChildOptions, childOptions, serveIpc } from './lib/ipc.js';

const TENANT_MIGRATIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations/tenant');

function startRaw(o: ChildOptions) {
  const db = pgRawDb(o.databaseUrl!, o.rawPool);
  const migrate = async (schema: string) => {
    // openPostgres, not openDb: the latter would load PGlite's module into this process.
    const setup = openPostgres(o.databaseUrl!, 1, undefined, new Vault());
    try { await migrateSchema(setup, schema, loadMigrations(TENANT_MIGRATIONS)); } finally { await setup.close(); }
  };
  const raw = createRawHost({ db, hearthSchema: o.hearthSchema!, scratchSchema: o.scratchSchema, migrate });
  return async (op: string, args: unknown) => {
    const out = await raw.handle(op, args);
    if (op === 'teardown') await db.close();
    return out;
  };
}

const options = childOptions();
if (options) serveIpc(startRaw(options));
