/**
 * export: system-level Bulk Data `$export` (kick-off, poll, download every NDJSON file) → resources/s, beside two
 * baselines over the same rows in the same run: their JSON read through pg in keyset pages into an NDJSON file, and
 * `COPY (SELECT content …) TO` a file — https://hl7.org/fhir/uv/bulkdata/STU2/export.html
 * The job runs in Hearth's process when it runs a job worker; otherwise (bench/server.ts serves HTTP only) in a second
 * Hearth node that runs jobs (export-node.ts, PostgreSQL), whose memory is then the export's.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Child } from '../lib/child.js';
import type { BenchContext } from '../lib/context.js';
import { type HttpReply, agent, expectStatus, request } from '../lib/http.js';
import { peakRss } from '../lib/memory.js';
import { type ResultRow, type SuiteOutcome, type Timing, rate, row, timed } from '../lib/stats.js';

const POLL_MS = 100;
const LIMIT_MS = 30 * 60_000;
/** How long a probe export may stay queued before we conclude that Hearth's process runs no job worker. */
const PICKUP_MS = 5000;

interface Manifest { output?: { type: string; url: string }[] }

const kickOff = (a: http.Agent, base: string, query = ''): Promise<HttpReply> =>
  request(a, 'GET', `${base}/$export${query}`, undefined, { prefer: 'respond-async' });

async function poll(a: http.Agent, statusUrl: string): Promise<Manifest> {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const r = await request(a, 'GET', statusUrl);
    if (r.status === 200) return JSON.parse(r.body) as Manifest;
    if (r.status !== 202) throw new Error(`$export status: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    if (Date.now() > deadline) throw new Error('$export did not finish within 30 minutes');
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function exportHearth(ctx: BenchContext): Promise<Timing> {
  const a = agent(4);
  const t0 = performance.now();
  const run = await timed(async () => {
    const k = await kickOff(a, ctx.base);
    expectStatus(k, 202, '$export kick-off');
    const statusUrl = new URL(String(k.headers['content-location']), ctx.base).href;
    const manifest = await poll(a, statusUrl);
    const polled = performance.now();
    let count = 0;
    for (const file of manifest.output ?? []) {
      const r = await request(a, 'GET', new URL(file.url, ctx.base).href, undefined, { accept: 'application/fhir+ndjson' });
      expectStatus(r, 200, `$export file ${file.type}`);
      count += r.body.split('\n').filter((l) => l.trim() !== '').length;
    }
    await request(a, 'DELETE', statusUrl).catch(() => undefined);
    process.stderr.write(`bench: export: manifest after ${((polled - t0) / 1000).toFixed(2)} s, files downloaded in ${((performance.now() - polled) / 1000).toFixed(2)} s\n`);
    return count;
  });
  a.destroy();
  return { seconds: run.seconds, count: run.result };
}

/** True when the CapabilityStatement advertises a system-level `export` operation (probing would start a job). */
async function advertised(ctx: BenchContext): Promise<boolean> {
  const a = agent(1);
  const r = await request(a, 'GET', `${ctx.base}/metadata`).finally(() => a.destroy());
  expectStatus(r, 200, 'metadata');
  const cs = JSON.parse(r.body) as { rest?: { operation?: { name: string }[] }[] };
  return (cs.rest ?? []).some((rest) => (rest.operation ?? []).some((o) => o.name === 'export'));
}

/** Kicks off an export of a type with no rows and watches whether anything picks it up; cancels it either way. */
async function hearthRunsJobs(ctx: BenchContext): Promise<boolean> {
  const a = agent(1);
  try {
    const k = await kickOff(a, ctx.base, '?_type=Basic');
    expectStatus(k, 202, '$export probe kick-off');
    const statusUrl = new URL(String(k.headers['content-location']), ctx.base).href;
    let picked = false;
    for (const deadline = Date.now() + PICKUP_MS; !picked && Date.now() < deadline;) {
      const r = await request(a, 'GET', statusUrl);
      picked = r.status !== 202 || r.headers['x-progress'] !== 'queued';
      if (!picked) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    await request(a, 'DELETE', statusUrl);
    return picked;
  } finally {
    a.destroy();
  }
}

/** A job node child, shaped like a bench Child for peakRss (call 'rss' / 'gc', pid). */
async function startJobNode(databaseUrl: string): Promise<{ child: Child; stop(): Promise<void> }> {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'export-node.ts');
  const proc: ChildProcess = fork(entry, [], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, DATABASE_URL: databaseUrl } });
  await new Promise<void>((resolve, reject) => { proc.once('message', () => resolve()); proc.once('exit', (c) => reject(new Error(`job node exited (${c})`))); });
  let next = 1;
  const pending = new Map<number, (v: unknown) => void>();
  proc.on('message', (m: { id: number; result?: unknown }) => { pending.get(m.id)?.(m.result); pending.delete(m.id); });
  const call = <T>(op: string) => new Promise<T>((resolve) => { const id = next++; pending.set(id, resolve as (v: unknown) => void); proc.send({ id, op, args: {} }); });
  const child = { pid: proc.pid!, call } as unknown as Child;
  const stop = async () => {
    const exited = new Promise((r) => proc.once('exit', r));
    await call('teardown').catch(() => undefined);
    proc.disconnect();
    await exited;
  };
  return { child, stop };
}

export async function runExport(ctx: BenchContext): Promise<SuiteOutcome> {
  if (!(await advertised(ctx))) {
    return { rows: [], skipped: { suite: 'export',
      reason: '$export not available yet: the CapabilityStatement lists no system-level export operation' } };
  }
  let node: Awaited<ReturnType<typeof startJobNode>> | undefined;
  if (!(await hearthRunsJobs(ctx))) {
    if (ctx.options.pglite) {
      return { rows: [], skipped: { suite: 'export', reason: 'the bench Hearth process runs no job worker, and under PGlite no '
        + 'second process can open its database (start a JobWorker in bench/server.ts)' } };
    }
    node = await startJobNode(ctx.options.databaseUrl);
  }
  try {
    const hearth = await peakRss(node?.child ?? ctx.hearth, () => exportHearth(ctx));
    const keyset = await ctx.raw.call<Timing>('export');
    const copy = await ctx.raw.call<(Timing & { note?: string }) | null>('copy');
    const where = node ? 'the job ran in a second Hearth node' : undefined;
    const differs = (base: Timing) => (hearth.result.count === base.count ? undefined
      : `Hearth exported ${hearth.result.count} resources, the baseline ${base.count}`);
    const note = (...parts: (string | undefined)[]) => parts.filter(Boolean).join('; ') || undefined;
    const rows: ResultRow[] = [row('export', 'resources_per_s', rate(hearth.result), rate(keyset), note('baseline: pg keyset pages to NDJSON', where, differs(keyset)))];
    if (copy) {
      rows.push(row('export', 'resources_per_s', rate(hearth.result), copy.note ? null : rate(copy),
        note('baseline: COPY … TO a file', copy.note, copy.note ? undefined : differs(copy))));
    }
    return { rows, rssMb: hearth.rssMb };
  } finally {
    await node?.stop();
  }
}
