/** Hearth's command line: serve, migrate, tenant create|list|delete (ARCHITECTURE §10). */
import { ConfigError, loadConfig } from './config.js';
import { buildApp, createDeps, loadAllMigrations, migrateAll } from './app.js';
import { openDb } from './db/open.js';
import { createTenant, deleteTenant, listTenants } from './storage/tenants.js';
import { FhirError } from './errors.js';
import { JOB_HANDLERS } from './jobs/handlers.js';
import { JobWorker } from './jobs/worker.js';

const USAGE = `Usage: hearth <command>
  serve                     start the FHIR server (default)
  migrate                   apply database migrations and exit
  tenant create <slug>      create a tenant (its own schema and FHIR base /fhir/<slug>)
  tenant list               list tenants
  tenant delete <slug>      drop a tenant and all its data`;

async function serve() {
  const config = loadConfig();
  const deps = await createDeps(config);
  const app = buildApp(deps);
  const worker = new JobWorker(deps, JOB_HANDLERS);
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
    await worker.stop();
    await deps.db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await app.listen({ port: config.port, host: config.host });
  worker.start();
  app.log.info({ database: deps.db.kind, base: `${config.baseUrl ?? `http://localhost:${config.port}`}/fhir/default` },
    'Hearth is serving FHIR R4');
}

async function withDb<T>(fn: (db: Awaited<ReturnType<typeof openDb>>) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    await migrateAll(db, loadAllMigrations());
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function tenant(args: string[]) {
  const [sub, slug] = args;
  if (sub === 'list') {
    await withDb(async (db) => { for (const t of await listTenants(db)) process.stdout.write(`${t.slug}\t${t.schema}\n`); });
  } else if (sub === 'create' && slug) {
    await withDb(async (db) => { await createTenant(db, slug, loadAllMigrations().tenant); });
    process.stdout.write(`created tenant ${slug}\n`);
  } else if (sub === 'delete' && slug) {
    await withDb((db) => deleteTenant(db, slug));
    process.stdout.write(`deleted tenant ${slug}\n`);
  } else {
    throw new UsageError();
  }
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv;
  try {
    if (command === 'serve') await serve();
    else if (command === 'migrate') { await withDb(async () => undefined); process.stdout.write('migrations applied\n'); }
    else if (command === 'tenant') await tenant(rest);
    else throw new UsageError();
  } catch (e) {
    if (e instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    else if (e instanceof ConfigError) process.stderr.write(`hearth: configuration error: ${e.message}\n`);
    else if (e instanceof FhirError) process.stderr.write(`hearth: ${e.message}\n`);
    else process.stderr.write(`hearth: ${(e as Error).message}\n`);
    process.exitCode = e instanceof UsageError ? 64 : 1;
  }
}
