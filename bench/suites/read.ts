/** read: GET [type]/[id] at 32 connections with autocannon, beside a minimal Fastify route reading the row through pg. */
import autocannon from 'autocannon';
import type { Result } from 'autocannon';
import type { BenchContext } from '../lib/context.js';
import { peakRss } from '../lib/memory.js';
import { type SuiteOutcome, row } from '../lib/stats.js';

export const CONNECTIONS = 32;
/** Resources sampled for the read load (the audit suite reads the same ones). */
export const IDS = 1000;

export interface Load { origin: string; paths: string[]; token?: string; connections?: number; warmUp?: boolean }

/** Warms up for a second (unless told not to), then loads `paths` in turn for `seconds`; fails on any non-2xx answer. */
export async function load({ origin, paths, token, connections = CONNECTIONS, warmUp = true }: Load, seconds: number): Promise<Result> {
  let next = 0;
  const requests = [{ setupRequest: (req: { path?: string }) => ({ ...req, path: paths[next++ % paths.length]! }) }];
  const options = { url: origin, connections, requests,
    headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) } };
  if (warmUp) await autocannon({ ...options, duration: 1 });
  const result = await autocannon({ ...options, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`load on ${origin}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return result;
}

/**
 * Two loads compared fairly: a, b, a, b, each for half the seconds, so that neither gains from running second (warm
 * caches, prepared statements). Requests per second over both halves; p50 the mean of the halves'.
 */
async function alternate(a: Load, b: Load, seconds: number): Promise<[{ rps: number; p50: number }, { rps: number; p50: number }]> {
  const half = Math.max(1, seconds / 2);
  const runs: Result[][] = [[], []];
  for (let i = 0; i < 2; i++) {
    runs[0]!.push(await load(a, half));
    runs[1]!.push(await load(b, half));
  }
  const sum = (rs: Result[]) => ({ rps: rs.reduce((n, r) => n + r.requests.total, 0) / rs.reduce((n, r) => n + (r.duration || half), 0),
    p50: rs.reduce((n, r) => n + r.latency.p50, 0) / rs.length });
  return [sum(runs[0]!), sum(runs[1]!)];
}

/** Requests per second of one autocannon run. */
export const requestsPerS = (r: Result, seconds: number): number => r.requests.total / (r.duration || seconds);

export async function runRead(ctx: BenchContext): Promise<SuiteOutcome> {
  const ids = await ctx.raw.call<{ type: string; id: string }[]>('sampleIds', { n: IDS });
  const base = new URL(ctx.base);
  const hearthPaths = ids.map((r) => `${base.pathname}/${r.type}/${r.id}`);
  const rawPaths = ids.map((r) => `/raw/${r.type}/${r.id}`);
  const hearth = await peakRss(ctx.hearth, () => load({ origin: base.origin, paths: hearthPaths, token: ctx.token }, ctx.options.seconds));
  // The same load as a user whose role confines them to related patients (issue #16 Speed: ≥ 0.8 of system/*).
  // Resources of the sample in no patient's record but in the compartment's types (none referencing a patient) are
  // hidden from that user: both runs read the paths the user may read, the system/* run again for a like-for-like mix.
  const related = await ctx.hearth.call<{ token: string; patients: number }>('relatedUserToken');
  const visible: string[] = [];
  for (const path of hearthPaths) {
    const res = await fetch(`${base.origin}${path}`, { headers: { authorization: `Bearer ${related.token}` } });
    await res.arrayBuffer();
    if (res.ok) visible.push(path);
  }
  const [restricted, everything] = await alternate({ origin: base.origin, paths: visible, token: related.token },
    { origin: base.origin, paths: visible, token: ctx.token }, ctx.options.seconds);
  const server = await ctx.startReadBaseline();
  const raw = await peakRss(server.child, () => load({ origin: server.origin, paths: rawPaths }, ctx.options.seconds))
    .finally(server.stop);
  const h = hearth.result;
  const b = raw.result;
  return { rssMb: hearth.rssMb, ...(server.child === ctx.hearth ? {} : { floorMb: raw.rssMb }), rows: [
    row('read', 'requests_per_s', requestsPerS(h, ctx.options.seconds), requestsPerS(b, ctx.options.seconds)),
    row('read', 'p50_ms', h.latency.p50, b.latency.p50),
    row('read', 'p99_ms', h.latency.p99, b.latency.p99),
    row('read-related-user', 'requests_per_s', restricted.rps, everything.rps,
      `a user related to all ${related.patients} patients through CareTeams (${visible.length} of ${hearthPaths.length} sampled resources `
      + 'in their reach); baseline: the same paths with the system/* token; the two loads alternate in halves'),
    row('read-related-user', 'p50_ms', restricted.p50, everything.p50),
  ] };
}
