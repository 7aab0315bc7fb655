/**
 * import: Bulk `$import` of the generated patients as NDJSON files (one per type) → resources/s from kick-off to the
 * job's completion, beside raw `COPY` of the rows Hearth stored (resources, history, every idx_* row) into a scratch
 * schema (issue #14 §4). Runs the job in Hearth's own process (the bench server runs no worker loop), so the suite's
 * peak RSS is the import's.
 */
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { agent, expectStatus, request } from '../lib/http.js';
import { peakRss } from '../lib/memory.js';
import { type SuiteOutcome, type Timing, rate, row, timed } from '../lib/stats.js';
import { writeNdjson } from '../data/ndjson.js';

/**
 * Inputs imported after the others: an Appointment's write rule (issue #18) reads its Slots and their Schedule, which
 * must be there already; $import takes its inputs in order, and alphabetical order would put Appointment first.
 */
const AFTER = ['Appointment'];
const rank = (file: string) => (AFTER.includes(path.basename(file, '.ndjson')) ? 1 : 0);

/** Patients generated at once (untimed) while writing the files, so memory stays flat at any scale. */
const CHUNK = 100;

interface Manifest { output: { count: number; failed: number }[] }

async function importHearth(ctx: BenchContext, files: string[]): Promise<Timing> {
  const a = agent(2);
  const body = JSON.stringify({ resourceType: 'Parameters', parameter: [
    { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
    ...files.map((f) => ({ name: 'input', part: [{ name: 'type', valueCode: path.basename(f, '.ndjson') },
      { name: 'url', valueUrl: pathToFileURL(f).href }] })),
  ] });
  const run = await timed(async () => {
    const k = await request(a, 'POST', `${ctx.base}/$import`, body, { prefer: 'respond-async' });
    expectStatus(k, 202, '$import kick-off');
    await ctx.hearth.call('runImportJobs');
    const r = await request(a, 'GET', new URL(String(k.headers['content-location']), ctx.base).href);
    expectStatus(r, 200, '$import status');
    const manifest = JSON.parse(r.body) as Manifest;
    const failed = manifest.output.reduce((n, o) => n + o.failed, 0);
    if (failed > 0) throw new Error(`$import refused ${failed} generated line(s)`);
    return manifest.output.reduce((n, o) => n + o.count, 0);
  });
  a.destroy();
  return { seconds: run.seconds, count: run.result };
}

export async function runImport(ctx: BenchContext): Promise<SuiteOutcome> {
  const dir = ctx.importDir;
  fs.rmSync(dir, { recursive: true, force: true });
  let lines = 0;
  for (let from = 0; from < ctx.options.patients; from += CHUNK) {
    lines += writeNdjson(ctx.options.seed, from, Math.min(ctx.options.patients, from + CHUNK), dir);
  }
  const files = fs.readdirSync(dir).sort().map((f) => path.join(dir, f)).sort((a, b) => rank(a) - rank(b));
  const afterRid = await ctx.raw.call<number>('maxRid');
  const hearth = await peakRss(ctx.hearth, () => importHearth(ctx, files));
  fs.rmSync(dir, { recursive: true, force: true });
  if (hearth.result.count !== lines) throw new Error(`$import stored ${hearth.result.count} of ${lines} lines`);
  const base = await ctx.raw.call<Timing & { note?: string }>('copyImported', { afterRid });
  if (base.count !== hearth.result.count) throw new Error(`the COPY baseline wrote ${base.count} resources, Hearth imported ${hearth.result.count}`);
  return { rows: [row('import', 'resources_per_s', rate(hearth.result), rate(base), base.note)], rssMb: hearth.rssMb };
}
