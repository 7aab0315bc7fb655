/**
 * Test server: the real app over real PostgreSQL (DATABASE_URL) or PGlite (a private copy of a migrated data directory),
 * one fresh tenant per test file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, createDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDb } from '../../src/db/open.js';
import { keyOptions } from '../../src/db/vault.js';
import './cli.js'; // HEARTH_KEY_FILE for every test process
import type { Deps } from '../../src/interactions/context.js';
import { createTenant, deleteTenant, findTenant } from '../../src/storage/tenants.js';
import { type LaunchContext } from '../../src/auth/grants.js';
import { mintLocalToken } from '../../src/auth/tokens.js';
import { copyPgliteTemplate } from './pglite-template.js';

export const PUBLIC_ORIGIN = 'http://hearth.test';

export interface TestServer {
  app: FastifyInstance;
  deps: Deps;
  slug: string;
  /** Path prefix of the tenant's FHIR base, e.g. /fhir/t-ab12cd. */
  base: string;
  /** Absolute FHIR base as the server reports it. */
  url: string;
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  newTenant(): Promise<string>;
  /** An access token for the tenant (default: this file's) from the operator's built-in client. */
  token(scope: string, options?: { slug?: string; context?: LaunchContext; ttl?: number }): Promise<string>;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * FHIR requests carry a `system/*.cruds` token of their tenant unless this is false or an Authorization header is
   * given (the API requires a token everywhere but /metadata).
   */
  auth?: boolean;
}

/** The scope of the token every FHIR test request carries by default. */
export const DEFAULT_TEST_SCOPE = 'system/*.cruds';

export interface Reply extends LightMyRequestResponse {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json<T = any>(): T;
}

export const usingPostgres = (): boolean => Boolean(process.env.DATABASE_URL);

interface Teardown { teardown(fn: () => unknown): void }

export async function startServer(t: Teardown, env: Record<string, string> = {}): Promise<TestServer> {
  const config = loadConfig({ ...process.env, HEARTH_BASE_URL: PUBLIC_ORIGIN, HEARTH_LOG_LEVEL: 'silent',
    HEARTH_ADMIN_TOKEN: 'test-admin-token-0123456789', ...env });
  // PGlite: a copy of the migrated template (helpers/pglite-template.ts), not initdb and every migration again.
  const dataDir = config.databaseUrl ? undefined : await copyPgliteTemplate();
  const removeDataDir = () => { if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true }); };
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir, poolSize: config.poolSize,
    statementTimeoutMs: config.statementTimeoutMs, ...keyOptions(config) }).catch((e) => {
    removeDataDir();
    throw e;
  });
  const deps = await createDeps(config, db);
  const app = buildApp(deps);
  const tenants: string[] = [];
  const newTenant = async () => {
    const slug = `t-${crypto.randomBytes(5).toString('hex')}`;
    await createTenant(db, slug, deps.migrations.tenant);
    tenants.push(slug);
    return slug;
  };
  const slug = await newTenant();
  t.teardown(async () => {
    await app.close();
    // A PGlite copy is removed whole; on PostgreSQL the file's tenants are dropped from the shared database.
    if (!dataDir) for (const s of tenants) await deleteTenant(db, s, { operator: 'test teardown' }).catch(() => undefined);
    await db.close();
    removeDataDir();
  });
  const token = async (scope: string, o: { slug?: string; context?: LaunchContext; ttl?: number } = {}) => {
    const s = o.slug ?? slug;
    const tenant = await findTenant(db, s);
    if (!tenant) throw new Error(`No tenant ${s}`);
    return (await mintLocalToken(db, deps.auth, tenant, `${config.baseUrl ?? PUBLIC_ORIGIN}/fhir/${s}`, scope, o.ttl, o.context)).token;
  };
  const defaults = new Map<string, string | undefined>();
  const defaultAuth = async (url: string): Promise<string | undefined> => {
    const s = /^\/fhir\/([a-z][a-z0-9-]*)(?:[/?]|$)/.exec(url)?.[1];
    if (!s) return undefined;
    if (!defaults.has(s)) defaults.set(s, (await findTenant(db, s)) ? await token(DEFAULT_TEST_SCOPE, { slug: s }) : undefined);
    return defaults.get(s);
  };
  const request = async (method: string, path: string, options: RequestOptions = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    const url = path.startsWith('/') ? path : `/fhir/${slug}/${path}`;
    const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
    if (options.auth !== false && !hasAuth) {
      const bearer = await defaultAuth(url);
      if (bearer) headers.authorization = `Bearer ${bearer}`;
    }
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/fhir+json';
    }
    return await app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) }) as Reply;
  };
  return { app, deps, slug, base: `/fhir/${slug}`, url: `${config.baseUrl ?? PUBLIC_ORIGIN}/fhir/${slug}`, request, newTenant, token };
}

/**
 * Relaxes referential integrity for the tenant (issue #15 §2) through the admin API, for a test whose subject is
 * what a reference to nothing or a deleted target does elsewhere (search skipping deleted targets, …).
 */
export async function relaxReferences(s: TestServer, slug = s.slug): Promise<void> {
  const res = await s.request('PUT', `/admin/tenants/${slug}/integrity`,
    { headers: { authorization: 'Bearer test-admin-token-0123456789' }, body: { referentialIntegrity: false } });
  if (res.statusCode !== 200) throw new Error(`relaxing referential integrity: ${res.body}`);
}
