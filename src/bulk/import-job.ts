/**
 * Bulk `$import` as a job (issue #14 §3): reads each NDJSON input as a stream, checks every line exactly as an update
 * (`PUT [type]/[id]`: the client's id is kept; a line without one gets a new id), writes valid lines in batches of
 * one transaction each (storage/write-many.ts) and reports bad lines by number in an outcome NDJSON file. Progress —
 * input, byte offset, counts, outcome length — is checkpointed after every batch, so a job resumed after a crash
 * starts after its last committed batch. One AuditEvent per input file, with its counts.
 */
import crypto from 'node:crypto';
import { FhirError, type Issue, importLineBadId, importLineNotJson, importLineNotResource, importLineTooLong, importLineWrongType,
  invalidResource } from '../errors.js';
import { toOutcome } from '../fhir/outcome.js';
import type { Resource } from '../fhir/types.js';
import { checkResourceBody } from '../validation/check.js';
import { checkJsonLimits } from '../validation/limits.js';
import { writeMany, type PutRequest } from '../storage/write-many.js';
import { danglingLinks, referentialIntegrity, withoutReferenceChecks } from '../storage/links.js';
import { importEvent } from '../audit/security.js';
import type { Queryable } from '../db/db.js';
import type { ServerJobContext, ServerJobHandler } from '../interactions/context.js';
import { exportStore } from './store.js';
import { readLines } from './import-source.js';
import type { ImportCounts, ImportParams, ImportProgress, ImportResult } from './import-types.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
export const OUTCOME_FILE = 'outcome.ndjson';

/** Thrown to stop a strict import at its first bad line. */
class StrictStop extends Error {}

interface Options { batch: number; batchBytes: number }

function lineIssue(url: string, line: number, e: unknown): Resource {
  const issues: Issue[] = e instanceof FhirError ? e.issues : [{ severity: 'error', code: 'invalid', diagnostics: (e as Error).message }];
  return toOutcome(issues.map((i) => ({ ...i, diagnostics: `${url} line ${line}: ${i.diagnostics ?? i.code}` })));
}

/** One line → the update it asks for, or throws the FhirError that refuses it. */
function checkLine(ctx: ServerJobContext, text: string, declared: string | undefined): PutRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw importLineNotJson();
  }
  const limit = checkJsonLimits(body);
  if (limit) throw invalidResource([limit]);
  const type = (body as { resourceType?: unknown } | null)?.resourceType;
  if (typeof type !== 'string' || !ctx.deps.defs.isResourceType(type)) throw importLineNotResource();
  if (declared && type !== declared) throw importLineWrongType(type, declared);
  const resource = checkResourceBody(ctx.deps, body, type);
  const id = resource.id ?? crypto.randomUUID();
  if (typeof id !== 'string' || !ID.test(id)) throw importLineBadId(String(id));
  return { type, id, resource: { ...resource, id } };
}

/**
 * Checkpoints the resume point — in `tx`, the transaction of the batch it follows, when given; `done` (resources
 * imported so far) is what $job-status shows.
 */
const save = (ctx: ServerJobContext, p: ImportProgress, tx?: Queryable) =>
  // A copy: the worker keeps the last checkpoint (to record when the job ends), and p's counts change with the next batch.
  ctx.progress(structuredClone({ ...p, done: p.counts.reduce((n, c) => n + c.imported, 0) }), tx);

/**
 * Writes a batch and the resume point after it in one transaction: a crash either keeps both or neither, so a resumed
 * job never writes a committed batch again (a second version of each of its resources).
 */
async function writeBatch(ctx: ServerJobContext, batch: PutRequest[], progress: ImportProgress): Promise<void> {
  await ctx.deps.db.transaction(async (tx) => {
    // A line may name a resource of a later line or input: references are checked once, at the end (danglingReport).
    await withoutReferenceChecks(tx);
    if (batch.length > 0) await writeMany(tx, ctx.tenant.schema, batch, ctx.deps.writeHooks);
    await save(ctx, progress, tx);
  });
}

async function importInput(ctx: ServerJobContext, params: ImportParams, progress: ImportProgress, o: Options): Promise<void> {
  const { deps, tenant, job } = ctx;
  const input = params.inputs[progress.input]!;
  const counts = progress.counts[progress.input] ??= { read: 0, imported: 0, failed: 0 };
  const outcome = await exportStore(deps).open(tenant.slug, job.id, OUTCOME_FILE, progress.outcomeBytes);
  try {
    let batch: PutRequest[] = [];
    let bytes = 0;
    let pending: ImportCounts = { read: 0, imported: 0, failed: 0 };
    const seen = new Set<string>();
    let end = progress.offset;
    let lastLine = progress.line;
    const commit = async () => {
      // The outcome lines of this batch are on disk before the checkpoint that counts them commits; a resume cuts
      // the file back to the last committed length.
      progress.outcomeBytes = await outcome.sync();
      counts.read += pending.read;
      counts.imported += pending.imported;
      counts.failed += pending.failed;
      progress.errors += pending.failed;
      progress.offset = end;
      progress.line = lastLine;
      await writeBatch(ctx, batch, progress);
      batch = [];
      bytes = 0;
      pending = { read: 0, imported: 0, failed: 0 };
      seen.clear();
    };
    for await (const line of readLines(input.url, progress.offset, progress.line + 1, deps.config.bodyLimit)) {
      if (line.text !== undefined && line.text.trim() === '') {
        end = line.end;
        lastLine = line.number;
        continue;
      }
      let req: PutRequest | undefined;
      try {
        if (line.text === undefined) throw importLineTooLong(deps.config.bodyLimit);
        req = checkLine(ctx, line.text, input.type);
      } catch (e) {
        if (!(e instanceof FhirError)) throw e;
        await outcome.write(`${JSON.stringify(lineIssue(input.url, line.number, e))}\n`);
        pending.read++;
        pending.failed++;
        end = line.end;
        lastLine = line.number;
        if (params.strict) {
          await commit();
          throw new StrictStop(`${input.url} line ${line.number}: ${e.message}`);
        }
        continue;
      }
      // The same resource twice in a batch: the earlier version is committed first (PUT order is kept).
      if (seen.has(`${req.type}/${req.id}`)) await commit();
      seen.add(`${req.type}/${req.id}`);
      batch.push(req);
      bytes += line.text!.length;
      pending.read++;
      pending.imported++;
      end = line.end;
      lastLine = line.number;
      if (batch.length >= o.batch || bytes >= o.batchBytes) await commit();
    }
    await commit();
  } finally {
    await outcome.close();
  }
  await deps.audit.record(tenant.schema, [importEvent(params.base, params.principal, deps.audit.now(), input, counts, params.request, job.id)]);
}

/** Reported at most: the outcome names the first ones (a whole hospital's history could dangle). */
const DANGLING_REPORTED = 1000;

/**
 * With referential integrity on, the references of the imported resources that name nothing the tenant holds, one
 * outcome line each (the resources stay: a later import may bring their targets). Counted in `errors`.
 */
async function danglingReport(ctx: ServerJobContext, progress: ImportProgress): Promise<void> {
  const { deps, tenant, job } = ctx;
  if (progress.startedAt === undefined || progress.danglingReported !== undefined || !(await referentialIntegrity(deps.db, tenant.schema))) return;
  const found = await danglingLinks(deps.db, tenant.schema, new Date(progress.startedAt), DANGLING_REPORTED);
  if (found.length > 0) {
    const outcome = await exportStore(deps).open(tenant.slug, job.id, OUTCOME_FILE, progress.outcomeBytes);
    try {
      for (const d of found) {
        await outcome.write(`${JSON.stringify(toOutcome([{ severity: 'error', code: 'not-found', expression: [d.element],
          diagnostics: `${d.type}/${d.id}: ${d.element} refers to ${d.target}, which does not exist in this tenant` }]))}\n`);
      }
      progress.outcomeBytes = await outcome.sync();
    } finally {
      await outcome.close();
    }
  }
  Object.assign(progress, { errors: progress.errors + found.length, danglingReported: found.length });
  await save(ctx, progress);
}

export function createImportJob(options: Partial<Options> = {}): ServerJobHandler {
  const o: Options = { batch: options.batch ?? 500, batchBytes: options.batchBytes ?? 16 * 1024 * 1024 };
  return async (ctx) => {
    const params = ctx.job.params as unknown as ImportParams;
    const progress: ImportProgress = ctx.job.progress.input !== undefined ? structuredClone(ctx.job.progress) as unknown as ImportProgress
      : { input: 0, offset: 0, line: 0, outcomeBytes: 0, errors: 0, counts: [], startedAt: new Date().toISOString() };
    try {
      while (progress.input < params.inputs.length) {
        await importInput(ctx, params, progress, o);
        Object.assign(progress, { input: progress.input + 1, offset: 0, line: 0 });
        await save(ctx, progress);
      }
      await danglingReport(ctx, progress);
    } catch (e) {
      if (!(e instanceof StrictStop)) throw e;
      return result(params, progress, e.message);
    }
    return result(params, progress);
  };
}

function result(params: ImportParams, progress: ImportProgress, stopped?: string): ImportResult {
  return {
    transactionTime: new Date().toISOString(),
    inputs: params.inputs.map((input, i) => ({ ...input, ...(progress.counts[i] ?? { read: 0, imported: 0, failed: 0 }) })),
    errors: progress.errors,
    ...(stopped ? { stopped } : {}),
  };
}

export const importJob = createImportJob();
