/**
 * Test server: the real app over real PostgreSQL (DATABASE_URL) or in-memory PGlite, one fresh tenant per test file.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, createDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDb } from '../../src/db/open.js';
import type { Deps } from '../../src/interactions/context.js';
import { createTenant, deleteTenant } from '../../src/storage/tenants.js';

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
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Reply extends LightMyRequestResponse {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json<T = any>(): T;
}

export const usingPostgres = (): boolean => Boolean(process.env.DATABASE_URL);

interface Teardown { teardown(fn: () => unknown): void }

export async function startServer(t: Teardown, env: Record<string, string> = {}): Promise<TestServer> {
  const config = loadConfig({ ...process.env, HEARTH_BASE_URL: PUBLIC_ORIGIN, HEARTH_LOG_LEVEL: 'silent',
    HEARTH_ADMIN_TOKEN: 'test-admin-token-0123456789', ...env });
  const db = await openDb({ databaseUrl: config.databaseUrl, poolSize: config.poolSize });
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
    for (const s of tenants) await deleteTenant(db, s).catch(() => undefined);
    await db.close();
  });
  const request = async (method: string, path: string, options: RequestOptions = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/fhir+json';
    }
    const url = path.startsWith('/') ? path : `/fhir/${slug}/${path}`;
    return await app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) }) as Reply;
  };
  return { app, deps, slug, base: `/fhir/${slug}`, url: `${PUBLIC_ORIGIN}/fhir/${slug}`, request, newTenant };
}
