/** read: GET [type]/[id] at 32 connections with autocannon, beside a minimal Fastify route reading the row through pg. */
import autocannon from 'autocannon';
import type { Result } from 'autocannon';
import type { BenchContext } from '../lib/context.js';
import { peakRss } from '../lib/memory.js';
import { type SuiteOutcome, row } from '../lib/stats.js';

const CONNECTIONS = 32;
const IDS = 1000;

/** Warms up for a second, then loads `paths` in turn for the configured seconds; fails on any non-2xx answer. */
async function load(origin: string, paths: string[], seconds: number, token?: string): Promise<Result> {
  let next = 0;
  const requests = [{ setupRequest: (req: { path?: string }) => ({ ...req, path: paths[next++ % paths.length]! }) }];
  const options = { url: origin, connections: CONNECTIONS, requests,
    headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) } };
  await autocannon({ ...options, duration: 1 });
  const result = await autocannon({ ...options, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`read load on ${origin}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return result;
}

export async function runRead(ctx: BenchContext): Promise<SuiteOutcome> {
  const ids = await ctx.raw.call<{ type: string; id: string }[]>('sampleIds', { n: IDS });
  const base = new URL(ctx.base);
  const hearthPaths = ids.map((r) => `${base.pathname}/${r.type}/${r.id}`);
  const rawPaths = ids.map((r) => `/raw/${r.type}/${r.id}`);
  const hearth = await peakRss(ctx.hearth, () => load(base.origin, hearthPaths, ctx.options.seconds, ctx.token));
  const server = await ctx.startReadBaseline();
  const raw = await peakRss(server.child, () => load(server.origin, rawPaths, ctx.options.seconds)).finally(server.stop);
  const h = hearth.result;
  const b = raw.result;
  return { rssMb: hearth.rssMb, ...(server.child === ctx.hearth ? {} : { floorMb: raw.rssMb }), rows: [
    row('read', 'requests_per_s', h.requests.total / (h.duration || ctx.options.seconds),
      b.requests.total / (b.duration || ctx.options.seconds)),
    row('read', 'p50_ms', h.latency.p50, b.latency.p50),
    row('read', 'p99_ms', h.latency.p99, b.latency.p99),
  ] };
}
