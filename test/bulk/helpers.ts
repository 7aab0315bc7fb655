/** Bulk Data test helpers: a server with its own export directory, a worker run, and a whole export (kick-off → files). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createGrant } from '../../src/auth/grants.js';
import { mintAccessToken } from '../../src/auth/tokens.js';
import { ident, sql } from '../../src/db/sql.js';
import type { PageOptions } from '../../src/bulk/scan.js';
import { createExportJob } from '../../src/bulk/export-job.js';
import { exportStore } from '../../src/bulk/store.js';
import { type Job, finishJob, getJob, reportProgress } from '../../src/jobs/queue.js';
import { JobCancelled } from '../../src/jobs/worker.js';
import type { ServerJobContext as JobContext } from '../../src/interactions/context.js';
import { findTenant } from '../../src/storage/tenants.js';
import { runTenantJobs } from './tenant-worker.js';
import { PUBLIC_ORIGIN, type Reply, type TestServer, startServer } from '../helpers/server.js';

interface Teardown { teardown(fn: () => unknown): void }

export async function startBulkServer(t: Teardown, env: Record<string, string> = {}): Promise<TestServer & { exportDir: string }> {
  const exportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-export-test-'));
  t.teardown(() => fs.rmSync(exportDir, { recursive: true, force: true }));
  const s = await startServer(t, { HEARTH_EXPORT_DIR: exportDir, ...env });
  return { ...s, exportDir };
}

/** Runs the tenant's queued export jobs to the end (what `hearth serve`'s worker does, confined to this test's tenant). */
export const runJobs = (s: TestServer): Promise<number> => runTenantJobs(s.deps, s.slug);

/** Absolute URL (as the server reports it) → the path inject() takes. */
export const localPath = (url: string): string => url.replace(PUBLIC_ORIGIN, '');

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An access token of another (backend services) client, as the token endpoint would issue it. */
export async function clientToken(s: TestServer, clientId: string, scope: string): Promise<string> {
  const tenant = (await findTenant(s.deps.db, s.slug))!;
  const grant = await createGrant(s.deps.db, tenant.schema, { clientId, scope, context: {} }, s.deps.auth.now());
  return (await mintAccessToken(s.deps.auth, s.url, grant, 3600, clientId)).token;
}

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  deleted?: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
}

export interface Done {
  kickoff: Reply;
  status: string;
  reply: Reply;
  manifest: Manifest;
  /** Lines of every file by URL. */
  files: Map<string, string[]>;
}

export interface ExportOptions { method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> }

export async function fetchLines(s: TestServer, url: string, headers: Record<string, string> = {}): Promise<string[]> {
  const r = await s.request('GET', localPath(url), { headers });
  if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body.slice(0, 300)}`);
  return r.body.split('\n').filter((l) => l !== '');
}

/** Kick-off, run the job, fetch the manifest and every file (all with the same headers). */
export async function runExport(s: TestServer, kickoffPath: string, o: ExportOptions = {}): Promise<Done> {
  const headers = { prefer: 'respond-async', accept: 'application/fhir+json', ...o.headers };
  const kickoff = await s.request(o.method ?? 'GET', kickoffPath, { headers, ...(o.body ? { body: o.body } : {}) });
  if (kickoff.statusCode !== 202) throw new Error(`kick-off ${kickoffPath}: ${kickoff.statusCode} ${kickoff.body.slice(0, 500)}`);
  const status = String(kickoff.headers['content-location']);
  const auth = Object.fromEntries(Object.entries(headers).filter(([k]) => k === 'authorization'));
  // The claim skips a job row another statement has locked at that instant (FOR UPDATE SKIP LOCKED, as in the
  // server's worker): a loaded CI run once left the job queued, so run and poll again for a while.
  let reply = await runJobs(s).then(() => s.request('GET', localPath(status), { headers: auth }));
  for (let i = 0; reply.statusCode === 202 && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await runJobs(s);
    reply = await s.request('GET', localPath(status), { headers: auth });
  }
  if (reply.statusCode !== 200) throw new Error(`status: ${reply.statusCode} ${reply.body.slice(0, 500)}`);
  const manifest = reply.json<Manifest>();
  const files = new Map<string, string[]>();
  for (const f of [...manifest.output, ...manifest.error, ...manifest.deleted ?? []]) files.set(f.url, await fetchLines(s, f.url, auth));
  return { kickoff, status, reply, manifest, files };
}

/** Every exported resource (parsed), by type. */
export function resourcesByType(done: Done): Map<string, Record<string, unknown>[]> {
  const out = new Map<string, Record<string, unknown>[]>();
  for (const item of done.manifest.output) {
    const list = out.get(item.type) ?? [];
    list.push(...done.files.get(item.url)!.map((l) => JSON.parse(l) as Record<string, unknown>));
    out.set(item.type, list);
  }
  return out;
}

/**
 * Claims the queued export and runs its handler with a progress hook (called after each saved checkpoint, or — when
 * it answers 'crash' — instead of saving, to simulate a process dying between writing lines and recording them).
 * A crash leaves the job running under the dead owner's lease, as a killed process would.
 */
export async function runExportJobWith(s: TestServer, options: Partial<PageOptions>,
  hook: (progress: Job['progress'], call: number) => Promise<'crash' | void>): Promise<'crashed' | 'completed' | 'cancelled'> {
  const owner = `test-${process.pid}`;
  const [{ id }] = await s.deps.db.query<{ id: string }>(sql`SELECT id FROM hearth.job WHERE tenant = ${s.slug} AND kind = 'export'
    AND status = 'queued' ORDER BY created_at LIMIT 1`);
  await s.deps.db.query(sql`UPDATE hearth.job SET status = 'running', lease_owner = ${owner}, lease_until = now() + interval '60 seconds',
    attempts = attempts + 1, started_at = now() WHERE id = ${id}`);
  const job = (await getJob(s.deps.db, s.slug, id!))!;
  const tenant = (await findTenant(s.deps.db, job.tenant))!;
  let call = 0;
  let last = job.progress;
  const ctx: JobContext = {
    deps: s.deps, job, tenant,
    progress: async (p, tx) => {
      if ((await hook(p, ++call)) === 'crash') throw new Crash();
      last = p;
      if ((await reportProgress(tx ?? s.deps.db, job, owner, structuredClone(p), 60_000)).cancelled) throw new JobCancelled();
    },
  };
  try {
    const result = await createExportJob(options)(ctx);
    await finishJob(s.deps.db, job, 'completed', { result, progress: last });
    return 'completed';
  } catch (e) {
    if (e instanceof Crash) return 'crashed';
    if (!(e instanceof JobCancelled)) throw e;
    await finishJob(s.deps.db, job, 'cancelled', { progress: last });
    return 'cancelled';
  }
}

/** Stops the handler like a dying process: a JobCancelled the job did not ask for cleans nothing up. */
class Crash extends JobCancelled {}

/** What a lease lapsing looks like to the next worker. */
export async function expireLeases(s: TestServer): Promise<void> {
  await s.deps.db.query(sql`UPDATE hearth.job SET lease_until = now() - interval '1 second' WHERE status = 'running' AND tenant = ${s.slug}`);
}

/** Every file of a job's export directory: name → its text, opened through the store (files are sealed on disk). */
export async function exportFiles(s: TestServer & { exportDir: string }, job: string): Promise<Map<string, Buffer>> {
  const store = exportStore(s.deps);
  const out = new Map<string, Buffer>();
  for (const name of await store.names(s.slug, job)) {
    const opened = (await store.read(s.slug, job, name))!;
    out.set(name, Buffer.concat(await opened.stream.toArray() as Buffer[]));
  }
  return out;
}

export const jobOf = (statusUrl: string): string => statusUrl.split('/').pop()!;

/**
 * n resources straight into the tenant tables (Patient, Observation, Encounter in turn), stamped at one instant,
 * each `bytes` long or so — bulk data without the write path's cost. With history, each gets its version-1 row too.
 */
export async function seedResources(s: TestServer, n: number, o: { bytes?: number; history?: boolean; from?: number } = {}): Promise<void> {
  const tenant = (await findTenant(s.deps.db, s.slug))!;
  const schema = ident(tenant.schema);
  const repeat = Math.max(0, Math.round(((o.bytes ?? 200) - 150) / 32));
  const from = o.from ?? 1;
  const rows = sql`SELECT (ARRAY['Patient','Observation','Encounter'])[1 + g % 3] AS type, 'r' || g AS id, ${new Date()}::timestamptz AS ts, g
    FROM generate_series(${from}::int, ${from + n - 1}::int) g`;
  const content = sql`jsonb_build_object('resourceType', x.type, 'id', x.id, 'meta', jsonb_build_object('versionId', '1',
    'lastUpdated', to_char(x.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')), 'status', 'final',
    'note', repeat(md5(x.g::text), ${repeat}::int))`;
  const insert = sql`INSERT INTO ${schema}.resource (type, id, version, last_updated, deleted, content)
    SELECT x.type, x.id, 1, x.ts, false, ${content} FROM (${rows}) x ORDER BY x.g`;
  if (!o.history) {
    await s.deps.db.query(insert);
    return;
  }
  await s.deps.db.query(sql`WITH ins AS (${insert} RETURNING rid, type, id, version, last_updated, content)
    INSERT INTO ${schema}.resource_version (rid, type, id, version, last_updated, method, content)
    SELECT rid, type, id, version, last_updated, 'POST', content FROM ins`);
}
