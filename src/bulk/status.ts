/**
 * Bulk Data status, manifest and cancel — http://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-status-request,
 * #bulk-data-delete-request (bulk-data.md §5–§6). Transport-independent: answers status, headers and body.
 */
import { type IssueCode, exportCancelled, exportExpired, exportFailed, exportFileNotFound, exportNotFound } from '../errors.js';
import { informational, toOutcome } from '../fhir/outcome.js';
import type { Deps } from '../interactions/context.js';
import { type Job, cancelJob, getJob } from '../jobs/queue.js';
import type { Tenant } from '../storage/tenants.js';
import { clearPatients } from './patients.js';
import { exportStore } from './store.js';
import type { ExportFile, ExportParams, ExportProgress, ExportResult } from './types.js';
import type { ImportParams, ImportProgress, ImportResult } from './import-types.js';
import { OUTCOME_FILE } from './import-job.js';

export const statusUrl = (base: string, job: string): string => `${base}/_bulk/${job}`;
export const fileUrl = (base: string, job: string, name: string): string => `${base}/_bulk/${job}/${name}`;

export interface Answer {
  status: number;
  headers: Record<string, string>;
  /** A FHIR resource (application/fhir+json) or the manifest (application/json). */
  body?: unknown;
  manifest?: boolean;
}

/** When a finished export's files go: HEARTH_EXPORT_TTL after it, or an offboarding export's keepUntil. */
export const expiresAt = (deps: Deps, job: Job): Date | undefined =>
  job.finishedAt && (typeof job.params.keepUntil === 'string' ? new Date(job.params.keepUntil)
    : new Date(job.finishedAt.getTime() + deps.config.exportTtlMs));

/**
 * The client's export job: another client's, a cancelled or an expired one is a 404 (§5.1, §5.7, §6.2), so that
 * nobody learns of exports that are not theirs.
 */
export async function ownExport(deps: Deps, tenant: Tenant, clientId: string, id: string): Promise<Job> {
  const job = await getJob(deps.db, tenant.slug, id);
  const params = job?.params as unknown as ExportParams | undefined;
  if (!job || (job.kind !== 'export' && job.kind !== 'import') || params?.principal?.clientId !== clientId) throw exportNotFound(id);
  if (job.cancelRequested || job.status === 'cancelled') throw exportCancelled(id);
  const expires = expiresAt(deps, job);
  if (job.status === 'completed' && expires && expires.getTime() <= Date.now()) throw exportExpired(id);
  return job;
}

/** X-Progress (< 100 characters, §5.2). */
function progressText(job: Job): string {
  const p = job.progress as Partial<ExportProgress>;
  if (job.status === 'queued' || !p.phase) return 'queued';
  if (p.phase === 'deleted') return `listing deletions (${p.done ?? 0} resources written)`;
  const pct = p.maxRid ? Math.min(99, Math.floor(((p.cursor ?? 0) / p.maxRid) * 100)) : 0;
  return `${pct}% (${p.done ?? 0} resources written)`;
}

function manifest(base: string, job: Job, result: ExportResult) {
  const params = job.params as unknown as ExportParams;
  const items = (kind: ExportFile['kind']) => result.files.filter((f) => f.kind === kind && f.count > 0)
    .sort((a, b) => a.type.localeCompare(b.type) || a.part - b.part)
    .map((f) => ({ type: f.type, url: fileUrl(base, job.id, f.name), count: f.count }));
  return {
    transactionTime: result.transactionTime,
    request: params.request,
    requiresAccessToken: true,
    output: items('output'),
    ...(params.since ? { deleted: items('deleted') } : {}),
    error: items('error'),
  };
}

/** X-Progress of an import: the input being read and the lines done (< 100 characters). */
function importProgressText(job: Job): string {
  const p = job.progress as Partial<ImportProgress>;
  const inputs = (job.params as unknown as ImportParams).inputs.length;
  if (job.status === 'queued' || p.input === undefined) return 'queued';
  return `input ${Math.min(p.input + 1, inputs)} of ${inputs}, line ${p.line ?? 0} (${job.progress.done ?? 0} imported)`;
}

/**
 * A completed import's answer, shaped like an export manifest: per input its counts (`output`), and the outcome
 * NDJSON of refused lines (`error`), downloadable from the status URL like export files.
 */
function importManifest(base: string, job: Job, result: ImportResult) {
  return {
    transactionTime: result.transactionTime,
    request: (job.params as unknown as ImportParams).request,
    requiresAccessToken: true,
    output: result.inputs.map((i) => ({ inputUrl: i.url, ...(i.type ? { type: i.type } : {}), count: i.imported, read: i.read,
      failed: i.failed })),
    error: result.errors > 0 ? [{ type: 'OperationOutcome', url: fileUrl(base, job.id, OUTCOME_FILE), count: result.errors }] : [],
    ...(result.stopped ? { stopped: result.stopped } : {}),
  };
}

export function exportStatus(deps: Deps, base: string, job: Job): Answer {
  if (job.status === 'queued' || job.status === 'running') {
    const progress = job.kind === 'import' ? importProgressText(job) : progressText(job);
    return { status: 202, headers: { 'X-Progress': progress, 'Retry-After': job.status === 'queued' ? '5' : '2' } };
  }
  if (job.kind === 'import' && job.status === 'completed') {
    return { status: 200, headers: { Expires: expiresAt(deps, job)!.toUTCString() },
      body: importManifest(base, job, job.result as ImportResult), manifest: true };
  }
  if (job.status === 'failed') {
    const f = (job.progress as Partial<ExportProgress>).failure;
    const e = exportFailed(job.id, f && { code: f.code as IssueCode, message: f.message });
    return { status: e.status, headers: {}, body: toOutcome(e.issues) };
  }
  return { status: 200, headers: { Expires: expiresAt(deps, job)!.toUTCString() },
    body: manifest(base, job, job.result as ExportResult), manifest: true };
}

/** DELETE: cancels a queued or running export (a running one stops at its next checkpoint) and removes its files. */
export async function cancelExport(deps: Deps, tenant: Tenant, job: Job): Promise<Answer> {
  await cancelJob(deps.db, tenant.slug, job.id);
  await exportStore(deps).remove(tenant.slug, job.id);
  if (job.status !== 'running') await clearPatients(deps.db, tenant.schema, job.id);
  return { status: 202, headers: {}, body: informational(`Export ${job.id} was cancelled and its files deleted`) };
}

/** The completed job's file by name (404 for names it did not produce). */
export function exportFile(job: Job, name: string): ExportFile {
  if (job.kind === 'import') {
    const errors = (job.result as ImportResult | undefined)?.errors ?? 0;
    if (job.status !== 'completed' || name !== OUTCOME_FILE || errors === 0) throw exportFileNotFound(job.id, name);
    return { kind: 'error', type: 'OperationOutcome', name, part: 0, count: errors, bytes: 0 };
  }
  const file = job.status === 'completed' ? (job.result as ExportResult).files.find((f) => f.name === name) : undefined;
  if (!file) throw exportFileNotFound(job.id, name);
  return file;
}

