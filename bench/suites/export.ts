/**
 * export: system-level Bulk Data `$export` (kick-off, poll, download every NDJSON file) → resources/s, beside reading
 * the same rows' JSON through pg into an NDJSON file — https://hl7.org/fhir/uv/bulkdata/export.html
 */
import type http from 'node:http';
import type { BenchContext } from '../lib/context.js';
import { type HttpReply, agent, expectStatus, request } from '../lib/http.js';
import { peakRss } from '../lib/memory.js';
import { type SuiteOutcome, type Timing, rate, row, timed } from '../lib/stats.js';

const POLL_MS = 100;
const LIMIT_MS = 30 * 60_000;

interface Manifest { output?: { type: string; url: string }[] }

const kickOff = (a: http.Agent, base: string): Promise<HttpReply> =>
  request(a, 'GET', `${base}/$export`, undefined, { prefer: 'respond-async' });

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
  const run = await timed(async () => {
    const k = await kickOff(a, ctx.base);
    expectStatus(k, 202, '$export kick-off');
    const statusUrl = new URL(String(k.headers['content-location']), ctx.base).href;
    const manifest = await poll(a, statusUrl);
    let count = 0;
    for (const file of manifest.output ?? []) {
      const r = await request(a, 'GET', new URL(file.url, ctx.base).href, undefined, { accept: 'application/fhir+ndjson' });
      expectStatus(r, 200, `$export file ${file.type}`);
      count += r.body.split('\n').filter((l) => l.trim() !== '').length;
    }
    await request(a, 'DELETE', statusUrl).catch(() => undefined);
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

export async function runExport(ctx: BenchContext): Promise<SuiteOutcome> {
  if (!(await advertised(ctx))) {
    return { rows: [], skipped: { suite: 'export',
      reason: '$export not available yet: the CapabilityStatement lists no system-level export operation' } };
  }
  const hearth = await peakRss(ctx.hearth, () => exportHearth(ctx));
  const base = await ctx.raw.call<Timing>('export');
  const note = hearth.result.count === base.count ? undefined
    : `Hearth exported ${hearth.result.count} resources, the baseline ${base.count}`;
  return { rows: [row('export', 'resources_per_s', rate(hearth.result), rate(base), note)], rssMb: hearth.rssMb };
}
