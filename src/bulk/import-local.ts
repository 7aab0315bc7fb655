/**
 * `hearth import <tenant> <files or folders>` (issue #14 §3): local NDJSON files go through the same import job as
 * `$import` (run in this process under its own lease, so resumable like any job), and Bundle files (`.json`,
 * transaction or batch) through the transaction interaction. Each file gets one AuditEvent with its counts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { badRequest } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { importEvent } from '../audit/security.js';
import type { Deps } from '../interactions/context.js';
import { dispatch } from '../interactions/dispatch.js';
import { getJob, startJob } from '../jobs/queue.js';
import { JobWorker } from '../jobs/worker.js';
import type { Tenant } from '../storage/tenants.js';
import { createImportJob } from './import-job.js';
import type { ImportParams, ImportResult } from './import-types.js';

export interface FileReport { file: string; imported: number; failed: number; messages: string[] }

/** The files named, folders expanded to their *.ndjson and *.json files (sorted, not recursive). */
export function importFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const stat = fs.statSync(p, { throwIfNoEntry: false });
    if (!stat) throw badRequest(`${p} does not exist`);
    if (stat.isDirectory()) {
      out.push(...fs.readdirSync(p).filter((f) => /\.(ndjson|json)$/i.test(f)).sort().map((f) => path.join(p, f)));
    } else out.push(p);
  }
  return out.map((f) => path.resolve(f));
}

function principal() {
  return { clientId: 'hearth-cli', subject: os.userInfo().username };
}

async function importNdjson(deps: Deps, tenant: Tenant, base: string, files: string[]): Promise<FileReport[]> {
  const params: ImportParams = { inputs: files.map((f) => ({ url: pathToFileURL(f).href })), strict: false,
    request: `hearth import ${tenant.slug}`, base, principal: principal() };
  const worker = new JobWorker(deps, { import: createImportJob() });
  const job = await startJob(deps.db, tenant.slug, 'import', params as unknown as Record<string, unknown>, worker.owner,
    worker.leaseDurationMs);
  await worker.runHeld(job, tenant);
  const done = await getJob(deps.db, tenant.slug, job.id);
  if (done?.status !== 'completed') throw new Error(`import job ${job.id} ${done?.status ?? 'vanished'}: ${done?.error ?? ''}`);
  const result = done.result as ImportResult;
  return result.inputs.map((i, n) => ({ file: files[n]!, imported: i.imported, failed: i.failed,
    messages: i.failed > 0 ? [`refused lines are listed in ${path.join(deps.config.exportDir, tenant.slug, job.id, 'outcome.ndjson')}`] : [] }));
}

async function importBundle(deps: Deps, tenant: Tenant, base: string, file: string): Promise<FileReport> {
  const size = fs.statSync(file).size;
  if (size > deps.config.bodyLimit) throw badRequest(`${file} is larger than HEARTH_BODY_LIMIT (${deps.config.bodyLimit} bytes)`);
  let body: Resource;
  try {
    body = JSON.parse(fs.readFileSync(file, 'utf8')) as Resource;
  } catch {
    return { file, imported: 0, failed: 1, messages: ['not valid JSON'] };
  }
  if (body.resourceType !== 'Bundle' || (body.type !== 'transaction' && body.type !== 'batch')) {
    return { file, imported: 0, failed: 1, messages: ['not a transaction or batch Bundle'] };
  }
  const search = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
  const ctx = { tenant, base, search };
  const messages: string[] = [];
  let imported = 0;
  let failed = 0;
  try {
    const result = await dispatch(deps, ctx, { method: 'POST', path: '', query: [], headers: { contentType: 'application/fhir+json' }, body });
    for (const entry of (result.body as { entry?: { response?: { status?: string; outcome?: Resource } }[] }).entry ?? []) {
      if (/^2/.test(entry.response?.status ?? '')) imported++;
      else {
        failed++;
        messages.push(`${entry.response?.status}: ${JSON.stringify(entry.response?.outcome ?? {})}`);
      }
    }
  } catch (e) {
    failed = (body.entry as unknown[] | undefined)?.length ?? 1;
    messages.push((e as Error).message);
  }
  const entries = (body.entry as unknown[] | undefined)?.length ?? 0;
  await deps.audit.record(tenant.schema, [importEvent(base, principal(), deps.audit.now(), { type: 'Bundle', url: pathToFileURL(file).href },
    { read: entries, imported, failed }, `hearth import ${tenant.slug}`)]);
  return { file, imported, failed, messages };
}

/** Imports the files in order: the NDJSON files as one job, each Bundle as its own transaction or batch. */
export async function importLocal(deps: Deps, tenant: Tenant, base: string, files: string[]): Promise<FileReport[]> {
  const reports: FileReport[] = [];
  const ndjson = files.filter((f) => /\.ndjson$/i.test(f));
  if (ndjson.length > 0) reports.push(...await importNdjson(deps, tenant, base, ndjson));
  for (const f of files.filter((x) => !/\.ndjson$/i.test(x))) reports.push(await importBundle(deps, tenant, base, f));
  return reports;
}
