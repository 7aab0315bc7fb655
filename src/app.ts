/** Composition root: builds the dependencies and the Fastify app; never listens (main.ts does). */
import { rewriteForHost, tenantHostsOf } from './http/host-routing.js';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import type { Db } from './db/db.js';
import { CONTROL_SCHEMA, loadMigrations, migrateSchema } from './db/migrate.js';
import { openDb } from './db/open.js';
import { keyOptions } from './db/vault.js';
import { loadDefinitions } from './fhir/definitions.js';
import { PageTokens } from './fhir/page-token.js';
import { registerAdminRoutes } from './http/admin.js';
import { JSON_BODY_TYPES, type JsonParser, limitedJsonParser } from './http/content.js';
import { errorHandler, frameworkErrorHandler, notFoundHandler } from './http/errors.js';
import { registerFhirRoutes } from './http/fhir.js';
import { registerBulkFileRoutes } from './http/bulk-files.js';
import { registerOAuthApi } from './http/oauth-api.js';
import { registerOAuthPages } from './http/oauth-pages.js';
import { registerHealthRoutes } from './http/health.js';
import { genReqId, registerHooks } from './http/hooks.js';
import type { Deps } from './interactions/context.js';
import { OPERATIONS } from './operations/table.js';
import { Metrics } from './metrics.js';
import { createTenant, findTenant, migrateTenants } from './storage/tenants.js';
import { createValidator } from './validation/validate.js';
import { base64Elements } from './validation/limits.js';
import { indexResource } from './storage/index-writer.js';
import { createSearchRegistry } from './search/registry.js';
import { compileIndexPlans } from './search/extract.js';
import { TenantSearchParameters } from './storage/search-parameters.js';
import { ConsentCache } from './auth/consent-cache.js';
import { GrantCache } from './auth/grant-cache.js';
import { KeyStore } from './auth/keys.js';
import { AuditLog } from './audit/log.js';
import type { WriteHook } from './storage/write.js';
import { SubscriptionCache } from './subscriptions/outbox.js';
import type { DeliveryDeps } from './subscriptions/worker.js';
import { registerSubscriptionWebsocket } from './http/subscription-ws.js';
import { workflowHooks } from './workflows/index.js';
import { profileHook } from './interactions/profiles.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function loadAllMigrations(root = ROOT): Deps['migrations'] {
  return { control: loadMigrations(path.join(root, 'migrations/control')), tenant: loadMigrations(path.join(root, 'migrations/tenant')) };
}

/** Applies control and tenant migrations and makes sure tenant `default` exists. */
export async function migrateAll(db: Db, migrations: Deps['migrations']): Promise<void> {
  await migrateSchema(db, CONTROL_SCHEMA, migrations.control);
  await migrateTenants(db, migrations.tenant);
  if (!(await findTenant(db, 'default'))) {
    await createTenant(db, 'default', migrations.tenant).catch(async (e) => {
      if (!(await findTenant(db, 'default'))) throw e; // another node created it first
    });
  }
}

/** On PostgreSQL the audit group commits get a small pool of their own (2 connections) (src/audit/log.ts); PGlite is one session. */
async function auditWriter(config: Config, db: Db): Promise<Db | undefined> {
  if (db.kind !== 'postgres' || !config.databaseUrl || !config.auditEnabled) return undefined;
  return openDb({ databaseUrl: config.databaseUrl, poolSize: 2, ...keyOptions(config) }); // one commit in flight, one spare
}

/** Opens the database, migrates it and loads the definitions. The caller owns deps.db and closes it. */
export async function createDeps(config: Config, db?: Db): Promise<Deps> {
  const database = db ?? await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.poolSize,
    statementTimeoutMs: config.statementTimeoutMs, ...keyOptions(config) });
  try {
    const migrations = loadAllMigrations();
    // The key-encryption key is checked before anything is migrated, and again after (a fresh database records it).
    await database.keyring.verify(database);
    await migrateAll(database, migrations);
    await database.keyring.verify(database);
    const defs = loadDefinitions();
    const search = createSearchRegistry(defs);
    compileIndexPlans(search); // every core expression compiled at boot, not on the first write
    const tenantSearch = new TenantSearchParameters(defs, search);
    // The journey's rules come after indexing and may write other resources through every hook, themselves included.
    const consents = new ConsentCache(database, config.grantCacheMs, (t) => defs.isResourceType(t));
    const subscriptions = new SubscriptionCache({ config, db: database, defs, tenantSearch });
    const writeHooks: WriteHook[] = [tenantSearch.hook, indexResource((tx, schema) => tenantSearch.registryFor(tx, schema)), consents.hook,
      subscriptions.hook];
    writeHooks.push(...workflowHooks(() => writeHooks));
    // Last, so that a profile sees the content every other hook's prepare leaves (issue #15 §4).
    writeHooks.push(profileHook(defs));
    return { config, db: database, defs, search, tenantSearch, validator: createValidator(defs), migrations,
      writeHooks,
      pageTokens: new PageTokens(config.pageSecret),
      auth: { keys: new KeyStore(database, config.keySecret), now: () => new Date(),
        grants: new GrantCache(database, config.grantCacheMs), consents },
      audit: new AuditLog(database, config.auditEnabled, undefined, await auditWriter(config, database)),
      metrics: new Metrics(), operations: OPERATIONS, subscriptions };
  } catch (e) {
    if (!db) await database.close();
    throw e;
  }
}

/** What this node's subscription delivery workers need (src/subscriptions/worker.ts). */
export function deliveryDeps(deps: Deps): DeliveryDeps {
  return { config: deps.config, db: deps.db, defs: deps.defs, tenantSearch: deps.tenantSearch, audit: deps.audit, auth: deps.auth,
    metrics: deps.metrics, statusHooks: deps.writeHooks.filter((h) => h !== deps.subscriptions.hook) };
}

export function buildApp(deps: Deps): FastifyInstance {
  const hosts = tenantHostsOf(deps);
  const app = Fastify({
    // A tenant's own host name serves its base at /fhir (http/host-routing.ts): rewritten to the path form first.
    rewriteUrl: (raw) => {
      const slug = hosts.slugAt(raw.headers.host);
      return slug ? rewriteForHost(raw.url ?? '/', slug) : raw.url ?? '/';
    },
    logger: { level: deps.config.logLevel },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimit,
    genReqId,
    requestIdHeader: false,
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler,
  });
  // JSON bodies go through Fastify's safe parser (prototype poisoning rejected); text/plain is not accepted.
  app.removeContentTypeParser('text/plain');
  app.addHook('onReady', async () => {
    await hosts.refresh();
    hosts.start((e) => app.log.error({ err: { type: (e as Error).name } }, 'reading the tenants\' host names failed'));
  });
  app.addHook('onClose', async () => hosts.stop());
  app.addContentTypeParser(JSON_BODY_TYPES, { parseAs: 'string' },
    limitedJsonParser(app.getDefaultJsonParser('error', 'error') as JsonParser, base64Elements(deps.defs)));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, [...new URLSearchParams(body as string).entries()]);
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  registerHooks(app, deps.config.corsOrigins);
  app.addHook('onClose', () => deps.audit.close());
  app.addHook('onClose', async () => { await deps.auth.grants?.close(); await deps.auth.consents?.close(); await deps.subscriptions.close(); });
  // One line per request with method, route template, status and time; never the URL's query or any body.
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: reply.statusCode,
      ms: Math.round(reply.elapsedTime) }, 'request');
  });
  registerHealthRoutes(app, deps);
  registerAdminRoutes(app, deps);
  registerOAuthApi(app, deps);
  registerOAuthPages(app, deps);
  registerBulkFileRoutes(app, deps);
  registerSubscriptionWebsocket(app, deps);
  registerFhirRoutes(app, deps);
  return app;
}
