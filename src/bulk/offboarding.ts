/**
 * Offboarding a tenant (issue #17 §5; README "Tenants"): the tenant is suspended, a full system-level Bulk export of
 * its resources runs although it is suspended (it is the one job that does), its files are kept for the days asked
 * and downloaded through the admin API (the tenant's own tokens are refused while it is suspended), and once that
 * time has passed the tenant is deleted — the deletion recorded in the control schema as any other. Reactivating the
 * tenant cancels the deletion.
 */
import { authChanged } from '../auth/grant-cache.js';
import { EXPLICIT_SCOPE_TYPES } from '../auth/scopes.js';
import type { Db } from '../db/db.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import { ident, sql } from '../db/sql.js';
import { badRequest, unknownTenant } from '../errors.js';
import type { Deps } from '../interactions/context.js';
import { type Job, enqueueJob, getJob } from '../jobs/queue.js';
import { type Tenant, deleteTenant, findTenant, setSuspended } from '../storage/tenants.js';
import { exportStore } from './store.js';
import type { ExportFile, ExportParams, ExportResult } from './types.js';

/** Who runs an offboarding export (its job's principal; never a client of the tenant). */
export const OFFBOARDING_CLIENT = 'hearth-offboarding';

export interface OffboardingView {
  slug: string;
  deleteAfter?: string;
  job?: { id: string; status: string; done?: number };
  files: { type: string; name: string; count: number; bytes: number }[];
}

function keepDaysOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 365) {
    throw badRequest('keepDays must be a whole number of days from 1 to 365: how long the export is kept before the tenant is deleted', ['keepDays']);
  }
  return value;
}

/**
 * Starts offboarding: suspends the tenant with the reason (if it is not suspended yet), queues the full export whose
 * files are kept until the deletion, and sets the deletion for keepDays from now.
 */
export async function startOffboarding(deps: Deps, slug: string, body: { reason: string; keepDays: unknown }, base: string,
  now: Date): Promise<OffboardingView> {
  const keepDays = keepDaysOf(body.keepDays);
  const deleteAfter = new Date(now.getTime() + keepDays * 86_400_000);
  let tenant = await findTenant(deps.db, slug);
  if (!tenant) throw unknownTenant(slug);
  if (!tenant.suspendedAt) tenant = await setSuspended(deps.db, slug, body.reason, now);
  authChanged(tenant.schema);
  const types = [...deps.defs.resourceTypes].filter((t) => !EXPLICIT_SCOPE_TYPES.has(t)).sort();
  const params: ExportParams & { offboarding: true; keepUntil: string } = { level: 'system', types, request: `${base}/$export`, base,
    principal: { clientId: OFFBOARDING_CLIENT, subject: OFFBOARDING_CLIENT, scope: 'system/*.rs' }, ignored: [],
    offboarding: true, keepUntil: deleteAfter.toISOString() };
  await deps.db.transaction(async (tx) => {
    await tx.query(sql`UPDATE ${ident(CONTROL_SCHEMA)}.tenant SET delete_after = ${deleteAfter} WHERE slug = ${slug}`);
    await enqueueJob(tx, slug, 'export', params as unknown as Record<string, unknown>);
  });
  return offboardingView(deps.db, tenant);
}

/** The tenant's latest offboarding export. */
async function offboardingJob(db: Db, slug: string): Promise<Job | undefined> {
  const rows = await db.query<{ id: string }>(sql`SELECT id FROM ${ident(CONTROL_SCHEMA)}.job WHERE tenant = ${slug}
    AND kind = 'export' AND params->>'offboarding' = 'true' ORDER BY created_at DESC LIMIT 1`);
  return rows[0] && getJob(db, slug, rows[0].id);
}

export async function offboardingView(db: Db, tenant: Tenant): Promise<OffboardingView> {
  const [row] = await db.query<{ delete_after: Date | null }>(sql`SELECT delete_after FROM ${ident(CONTROL_SCHEMA)}.tenant
    WHERE slug = ${tenant.slug}`);
  const job = await offboardingJob(db, tenant.slug);
  const files = job?.status === 'completed' ? (job.result as ExportResult).files : [];
  return { slug: tenant.slug, ...(row?.delete_after ? { deleteAfter: new Date(row.delete_after).toISOString() } : {}),
    ...(job ? { job: { id: job.id, status: job.status, ...(job.progress.done !== undefined ? { done: Number(job.progress.done) } : {}) } } : {}),
    files: files.map((f: ExportFile) => ({ type: f.type, name: f.name, count: f.count, bytes: f.bytes })) };
}

/** One file of the tenant's completed offboarding export, as the store reads it; undefined when there is none. */
export async function offboardingFile(deps: Deps, tenant: Tenant, name: string) {
  const job = await offboardingJob(deps.db, tenant.slug);
  if (job?.status !== 'completed' || !(job.result as ExportResult).files.some((f) => f.name === name)) return undefined;
  return exportStore(deps).read(tenant.slug, job.id, name);
}

/** Deletes the tenants whose offboarding time has passed (with their export files); answers their slugs. */
export async function deleteOffboarded(deps: Deps, now: Date): Promise<string[]> {
  const due = await deps.db.query<{ slug: string; schema_name: string }>(sql`SELECT slug, schema_name FROM ${ident(CONTROL_SCHEMA)}.tenant
    WHERE delete_after IS NOT NULL AND delete_after <= ${now} AND suspended_at IS NOT NULL`);
  const store = exportStore(deps);
  for (const t of due) {
    // Another node may have deleted it a moment ago: then there is nothing left to do here.
    if (!(await deleteTenant(deps.db, t.slug, { operator: 'offboarding' }).then(() => true, async (e) => {
      if (await findTenant(deps.db, t.slug)) throw e;
      return false;
    }))) continue;
    authChanged(t.schema_name);
    for (const f of (await store.jobs()).filter((j) => j.tenant === t.slug)) await store.remove(f.tenant, f.job);
  }
  return due.map((t) => t.slug);
}
