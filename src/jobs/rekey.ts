/**
 * Key rotation and conversion as a job (issue #17 §1–§2): re-encrypts every body of a tenant that is not under its
 * newest data key — bodies in clear (a tenant made before encryption, or with HEARTH_ENCRYPTION=off) and bodies under
 * an older key version — a batch of rows per transaction together with the job's progress, so a job stopped half-way
 * resumes where its last batch committed and every row ends up readable once, under the new key. Reads work
 * throughout: a row is opened with whichever key version its header names. Then the tenant's files are rewritten,
 * and the older versions nothing needs any more are destroyed (a backup taken before then still needs them); the
 * append-only AuditEvents keep theirs.
 */
import { type Sql, ident, raw, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import type { Db, Queryable } from '../db/db.js';
import type { Resource } from '../fhir/types.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import type { Tenant } from '../storage/tenants.js';
import { type Job, enqueueJob, latestJob } from './queue.js';
import type { JobContext } from './worker.js';

const BATCH = 500;
/** How long a node may keep writing with a key version it cached before a rotation (db/vault.ts KEYS_TTL_MS), and more. */
const CACHE_GRACE_MS = 6000;

/** The two tables of bodies, with the column that orders them for resuming. */
const TABLES = [
  { name: 'resource', key: 'rid', words: true },
  { name: 'resource_version', key: 'seq', words: false },
] as const;

interface Row { pk: number; type: string; id: string; version: number; content: Resource }

const headerOf = (version: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(version);
  return b;
};

/** Rows not under `version`: in clear, or sealed under another key version (the header's bytes 2–5). */
const stale = (version: number): Sql =>
  sql`(content IS NOT NULL OR (sealed IS NOT NULL AND substring(sealed from 2 for 4) <> ${headerOf(version)}::bytea))`;

/** How many rows of the tenant are not under `version` yet. */
export async function rowsToRekey(db: Queryable, schema: string, version: number): Promise<number> {
  let n = 0;
  for (const t of TABLES) {
    n += (await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.${raw(t.name)} WHERE ${stale(version)}`))[0]!.n;
  }
  return n;
}

async function rekeyBatch(tx: Queryable, schema: string, table: (typeof TABLES)[number], version: number, after: number): Promise<Row[]> {
  const s = ident(schema);
  const rows = await tx.query<Row>(sql`SELECT ${raw(table.key)} AS pk, type, id, version, ${sealedColumns(schema)}
    FROM ${s}.${raw(table.name)} WHERE ${raw(table.key)} > ${after} AND ${stale(version)} ORDER BY ${raw(table.key)} LIMIT ${BATCH} FOR UPDATE`);
  if (rows.length === 0) return rows;
  const bodies = await Promise.all(rows.map((r) => tx.keyring!.body(schema, r.type, r.id, Number(r.version), r.content)));
  if (bodies.some((b) => !b.sealed)) throw new Error(`tenant schema ${schema} has no data key to encrypt with`);
  const words = table.words ? sql`, words = to_tsvector('simple', x.words), narrative = to_tsvector('simple', x.narrative)` : sql``;
  await tx.query(sql`UPDATE ${s}.${raw(table.name)} t SET content = NULL, sealed = decode(x.sealed, 'base64')${words}
    FROM unnest(${rows.map((r) => r.pk)}::bigint[], ${bodies.map((b) => b.sealed!.toString('base64'))}::text[],
      ${bodies.map((b) => b.words)}::text[], ${bodies.map((b) => b.narrative)}::text[]) AS x(pk, sealed, words, narrative)
    WHERE t.${raw(table.key)} = x.pk`);
  return rows;
}

/**
 * The oldest key version an AuditEvent body is sealed with. AuditEvents are append-only (by privilege and trigger):
 * they are never re-encrypted, so the versions they use stay until retention archives their partitions.
 */
async function oldestAuditVersion(db: Queryable, schema: string): Promise<number | undefined> {
  // Fixed-width hex sorts as the number it spells (min(bytea) is PostgreSQL 17's).
  const rows = await db.query<{ v: string | null }>(sql`SELECT min(encode(substring(sealed from 2 for 4), 'hex')) AS v
    FROM ${ident(schema)}.audit_event WHERE sealed IS NOT NULL`);
  const v = rows[0]?.v;
  return v ? parseInt(v, 16) : undefined;
}

/**
 * Rewrites the tenant's files that are not under `version` (bulk/reseal.ts); answers how many, and the oldest key
 * version files still being written use.
 */
export type FileResealer = (version: number) => Promise<{ files: number; oldestInUse?: number }>;

/**
 * The job (params.version: the version its rotation made): every row ends under the tenant's newest version — a
 * later rotation's, when rotations came in a row. Passes over both tables until one finds nothing to do, the last
 * starting after every node has seen the new version.
 */
export async function rekey(ctx: JobContext<{ db: Db }>, files?: FileResealer):
  Promise<{ rekeyed: number; retired: number; version: number; files?: number; keptForRunningJobs?: number }> {
  const { deps, tenant, job } = ctx;
  const keyring = deps.db.keyring;
  // The newest version, which may be newer than the one that queued this job (rotations in a row): rows end under it.
  const newest = async () => {
    const versions = await keyring.versions(tenant.schema);
    if (versions.length === 0) throw new Error(`tenant ${tenant.slug} has no data key`);
    return versions[versions.length - 1]!;
  };
  let version = await newest();
  const createdAt = job.createdAt.getTime();
  let done = Number(job.progress.done ?? 0);
  let table = Number(job.progress.table ?? 0);
  let cursor = Number(job.progress.cursor ?? 0);
  const total = job.progress.total ?? done + await rowsToRekey(deps.db, tenant.schema, version);
  for (let pass = 0; ; pass++) {
    if (pass > 0) version = await newest();
    let changed = 0;
    for (; table < TABLES.length; table++, cursor = 0) {
      for (;;) {
        const moved = await deps.db.transaction(async (tx) => {
          const rows = await rekeyBatch(tx, tenant.schema, TABLES[table]!, version, cursor);
          if (rows.length > 0) {
            cursor = Number(rows[rows.length - 1]!.pk);
            done += rows.length;
            await ctx.progress({ done, total, table, cursor, version }, tx);
          }
          return rows.length;
        }, { retries: 0 });
        changed += moved;
        if (moved < BATCH) break;
      }
    }
    table = 0;
    cursor = 0;
    // Writers on other nodes may have used the older version until their caches expired: look once more after that.
    const wait = createdAt + CACHE_GRACE_MS - Date.now();
    if (changed === 0 && wait <= 0) break;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  // Files (bulk output), then the versions nothing needs any more — all older ones unless a job still writing uses them.
  const resealed = files ? await files(version) : undefined;
  const audit = await oldestAuditVersion(deps.db, tenant.schema);
  const retired = await keyring.retireKeys(deps.db, tenant.schema, Math.min(version, resealed?.oldestInUse ?? version, audit ?? version));
  return { rekeyed: done, retired, version, ...(resealed ? { files: resealed.files } : {}),
    ...(resealed?.oldestInUse !== undefined ? { keptForRunningJobs: resealed.oldestInUse } : {}) };
}

const jobView = (job: Job) => ({ id: job.id, status: job.status, progress: job.progress,
  ...(job.result !== undefined ? { result: job.result } : {}), ...(job.error ? { error: job.error } : {}),
  createdAt: job.createdAt.toISOString(), ...(job.finishedAt ? { finishedAt: job.finishedAt.toISOString() } : {}) });

/**
 * Rotation (and conversion of a tenant in clear): makes the tenant's next data key version — new rows are written
 * under it from now on (other nodes within seconds) — and queues the job that moves every existing row to it.
 */
export async function rotateKey(db: Db, tenant: Tenant): Promise<{ version: number; job: ReturnType<typeof jobView> }> {
  const version = await db.keyring.createKey(db, tenant.schema);
  const job = await enqueueJob(db, tenant.slug, 'rekey', { version });
  return { version, job: jobView(job) };
}

/** The tenant's encryption at rest as the admin API shows it: key versions, rows not yet under the newest, the last rotation. */
export async function keysView(db: Db, tenant: Tenant): Promise<Record<string, unknown>> {
  const rows = await db.query<{ version: number; provider: string; created_at: Date }>(sql`SELECT version, provider, created_at
    FROM ${ident(CONTROL_SCHEMA)}.tenant_key WHERE schema_name = ${tenant.schema} ORDER BY version`);
  const active = rows.length > 0 ? Number(rows[rows.length - 1]!.version) : undefined;
  const job = await latestJob(db, tenant.slug, 'rekey');
  return {
    encrypted: active !== undefined,
    ...(active !== undefined ? { activeVersion: active, rowsNotUnderActive: await rowsToRekey(db, tenant.schema, active) } : {}),
    versions: rows.map((r) => ({ version: Number(r.version), provider: r.provider, createdAt: new Date(r.created_at).toISOString() })),
    ...(job ? { lastRotation: jobView(job) } : {}),
  };
}
