/**
 * Bench child process serving Hearth (createDeps + buildApp, as `hearth serve` does) on 127.0.0.1 for one fresh tenant.
 * With PGlite (one in-process session) it hosts the baselines too; with PostgreSQL they run in bench/raw-server.ts.
 * On request it also serves the same tenant a second time with HEARTH_AUDIT=off (the audit suite's baseline).
 * Driven over IPC by bench/lib/child.ts; its peak RSS is measured from outside.
 */
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { sealAll, startAuditSchedules } from '../src/audit/schedule.js';
import { buildApp, createDeps, deliveryDeps, loadAllMigrations } from '../src/app.js';
import { startSubscriptionDelivery } from '../src/subscriptions/worker.js';
import { loadConfig } from '../src/config.js';
import type { Db } from '../src/db/db.js';
import { migrateSchema } from '../src/db/migrate.js';
import { openDb } from '../src/db/open.js';
import { keyOptions } from '../src/db/vault.js';
import { type Tenant, createTenant, deleteTenant, schemaFor } from '../src/storage/tenants.js';
import { mintAccessToken, mintLocalToken } from '../src/auth/tokens.js';
import { createGrant } from '../src/auth/grants.js';
import { ident, sql } from '../src/db/sql.js';
import { putRole, tenantRoleChecks } from '../src/oauth/roles-admin.js';
import { createUser } from '../src/oauth/users.js';
import crypto from 'node:crypto';
import { importJob } from '../src/bulk/import-job.js';
import { JobWorker } from '../src/jobs/worker.js';
import { dbRawDb } from './raw/db.js';
import { createRawHost } from './raw/host.js';
import { type ChildOptions, type Handler, childOptions, serveIpc } from './lib/ipc.js';

const migrator = (db: Db) => async (schema: string) => { await migrateSchema(db, schema, loadAllMigrations().tenant); };

const TOKEN_TTL_S = 24 * 3600;

/** Serves the tenant from a second app built as `HEARTH_AUDIT=off hearth serve` would be, on the same database. */
async function listenUnaudited(env: NodeJS.ProcessEnv, db: Db, tenant: Tenant) {
  const deps = await createDeps(loadConfig({ ...env, HEARTH_AUDIT: 'off' }), db);
  if (deps.audit.enabled) throw new Error('HEARTH_AUDIT=off did not turn auditing off');
  const app = buildApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  // The token's audience is the FHIR base, which carries this app's port.
  const { token } = await mintLocalToken(db, deps.auth, tenant, `http://127.0.0.1:${port}/fhir/${tenant.slug}`, 'system/*.cruds', TOKEN_TTL_S);
  return { app, port, token };
}

async function startHearth(o: ChildOptions): Promise<Handler> {
  // Sealing every second (unless set): each audited round's events are sealed within that round, so the audit suite
  // charges sealing to the audited side rather than to whichever round the 10-second default lands in.
  const env = { ...process.env, DATABASE_URL: o.databaseUrl ?? '', HEARTH_HOST: '127.0.0.1', HEARTH_PORT: '0',
    HEARTH_AUDIT_SEAL_INTERVAL: process.env.HEARTH_AUDIT_SEAL_INTERVAL ?? '1',
    // The benchmark's 16-32 clients share one token: the API rate limits (issue #16 §5) are off here only.
    HEARTH_API_RATE_LIMIT: '0', HEARTH_USER_RATE_LIMIT: '0', ...(o.importDir ? { HEARTH_IMPORT_DIR: o.importDir } : {}) };
  const config = loadConfig(env);
  const db = await openDb({ databaseUrl: o.databaseUrl, dataDir: o.dataDir, poolSize: config.poolSize,
    statementTimeoutMs: config.statementTimeoutMs, ...keyOptions(config) });
  const deps = await createDeps(config, db);
  const tenant = await createTenant(db, o.tenant!, deps.migrations.tenant);
  const app = buildApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  // Sealing runs as under `hearth serve`: its cost is part of what auditing costs (the audit suite measures it).
  const stopAudit = deps.audit.enabled ? startAuditSchedules(deps, (e) => { throw e; }) : async () => undefined;
  // Subscription deliveries run as under `hearth serve` (the notify suite measures them).
  const stopDelivery = await startSubscriptionDelivery(deliveryDeps(deps));
  const port = (app.server.address() as { port: number }).port;
  // The FHIR API needs a token: one for the operator's client, valid for the whole run.
  const { token } = await mintLocalToken(db, deps.auth, tenant, `http://127.0.0.1:${port}/fhir/${tenant.slug}`, 'system/*.cruds', TOKEN_TTL_S);
  const raw = o.databaseUrl ? undefined : createRawHost({ db: dbRawDb(db), hearthSchema: tenant.schema,
    scratchSchema: o.scratchSchema, migrate: migrator(db) });
  let unaudited: FastifyInstance | undefined;
  const closeUnaudited = async () => { await unaudited?.close(); unaudited = undefined; };
  // The encryption suite's two fresh tenants (one encrypted, one in clear), each with its own token.
  const twins: string[] = [];
  const twinTenant = async ({ encrypted }: { encrypted: boolean }) => {
    const twin = await createTenant(db, `${o.tenant!}-${encrypted ? 'sealed' : 'plain'}`, deps.migrations.tenant);
    twins.push(twin.slug);
    if (!encrypted) await db.keyring.destroyKeys(db, twin.schema);
    else if (!(await db.keyring.sealing(twin.schema))) throw new Error('HEARTH_ENCRYPTION is off: no encrypted tenant to measure');
    const minted = await mintLocalToken(db, deps.auth, twin, `http://127.0.0.1:${port}/fhir/${twin.slug}`, 'system/*.cruds', TOKEN_TTL_S);
    return { prefix: `/fhir/${twin.slug}`, token: minted.token, schema: twin.schema };
  };
  const dropTwins = async () => {
    for (const slug of twins.splice(0)) await deleteTenant(db, slug, { operator: 'bench' });
  };
  return async (op, args) => {
    if (op === 'twinTenant') return twinTenant(args as { encrypted: boolean });
    if (op === 'twinIds') {
      const { schema, n } = args as { schema: string; n: number };
      return db.query(sql`SELECT type, id FROM ${ident(schema)}.resource WHERE NOT deleted ORDER BY rid LIMIT ${n}`);
    }
    if (op === 'dropTwins') return dropTwins();
    // Between the encryption suite's rounds: the audit chain's pending events sealed and the twins' tables vacuumed
    // now, so that neither side's round pays for the other's (or the last suite's) background work.
    if (op === 'settle') {
      await sealAll(deps);
      for (const slug of twins) {
        for (const table of ['resource', 'resource_version']) await db.query(sql`VACUUM ANALYZE ${ident(schemaFor(slug))}.${ident(table)}`);
      }
      return null;
    }
    if (op === 'info') return { port, schema: tenant.schema, hostsRaw: Boolean(raw), token, audited: deps.audit.enabled };
    if (op === 'listenUnaudited') {
      await closeUnaudited();
      const off = await listenUnaudited(env, db, tenant);
      unaudited = off.app;
      return { port: off.port, token: off.token };
    }
    if (op === 'closeUnaudited') return closeUnaudited();
    if (op === 'relatedUserToken') return relatedUserToken(db, deps, app, tenant, port, token);
    // The import suite's job, run here to its end (this process runs no worker loop): its memory is this process's.
    // Only this tenant's: the database may be shared (CI), and another tenant's queued import is not the bench's.
    if (op === 'runImportJobs') return new JobWorker(deps, { import: importJob }, { tenant: tenant.slug }).drain();
    if (op === 'teardown') {
      if (raw) await raw.handle('teardown', {});
      await closeUnaudited();
      await dropTwins();
      await stopAudit();
      await stopDelivery();
      await app.close();
      await deleteTenant(db, o.tenant!, { operator: 'bench' });
      await db.close();
      return undefined;
    }
    if (raw?.has(op)) return raw.handle(op, args);
    throw new Error(`unknown op ${op}`);
  };
}

/**
 * The read suite's relationship-restricted user (issue #16 Speed): a Practitioner on a CareTeam of every patient of
 * the tenant, holding a role that may read everything of its related patients; an app granted user/*.rs.
 */
async function relatedUserToken(db: Db, deps: Awaited<ReturnType<typeof createDeps>>, app: FastifyInstance, tenant: Tenant,
  port: number, systemToken: string): Promise<{ token: string; patients: number }> {
  const s = ident(tenant.schema);
  const patients = (await db.query<{ id: string }>(sql`SELECT id FROM ${s}.resource WHERE type = 'Patient' AND NOT deleted`)).map((r) => r.id);
  const entry = [{ resource: { resourceType: 'Practitioner', id: 'bench-doctor' }, request: { method: 'PUT', url: 'Practitioner/bench-doctor' } },
    ...patients.map((p) => ({ resource: { resourceType: 'CareTeam', subject: { reference: `Patient/${p}` },
      participant: [{ member: { reference: 'Practitioner/bench-doctor' } }] }, request: { method: 'POST', url: 'CareTeam' } }))];
  const res = await app.inject({ method: 'POST', url: `/fhir/${tenant.slug}`, headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${systemToken}`,
    'content-type': 'application/fhir+json' }, payload: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
  if (res.statusCode !== 200) throw new Error(`care teams: ${res.statusCode} ${res.body}`);
  await putRole(db, tenant.schema, 'bench-reader', { scopes: 'user/*.rs', relationship: ['care-team'] },
    await tenantRoleChecks(db, tenant.schema, deps.defs, deps.tenantSearch, ''), deps.auth.now());
  const { user } = await createUser(db, tenant.schema, { username: 'bench-doctor', password: crypto.randomBytes(16).toString('hex'),
    fhirUser: 'Practitioner/bench-doctor', roles: ['bench-reader'] });
  const grant = await createGrant(db, tenant.schema, { clientId: 'bench-app', scope: 'user/*.rs', context: { fhirUser: 'Practitioner/bench-doctor' },
    userId: user.id }, deps.auth.now());
  const { token } = await mintAccessToken(deps.auth, `http://127.0.0.1:${port}/fhir/${tenant.slug}`, grant, TOKEN_TTL_S, user.id);
  return { token, patients: patients.length };
}

const options = childOptions();
if (options?.dataDir) fs.mkdirSync(options.dataDir, { recursive: true });
if (options) serveIpc(await startHearth(options));
