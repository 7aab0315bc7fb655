/**
 * audit (issue #6 §8): read and search requests/s with auditing on, beside the same process serving the same tenant
 * with HEARTH_AUDIT=off, in alternating rounds so that the drift of a shared machine's load falls on both sides alike.
 * Target: audited read requests/s ≥ 0.80 of unaudited.
 */
import type { Result } from 'autocannon';
import type { BenchContext } from '../lib/context.js';
import { type CpuSample, cpuSpent, sampleCpu } from '../lib/cpu.js';
import { agent, request } from '../lib/http.js';
import { type ResultRow, type SuiteOutcome, row, withTarget } from '../lib/stats.js';
import { CONNECTIONS as READ_CONNECTIONS, IDS, load, requestsPerS } from './read.js';
import { QUERIES } from './search-queries.js';

/** "Auditing every read must not halve throughput" (issue #6 §8). */
export const READ_TARGET = 0.8;
const SEARCH_CONNECTIONS = 8;
/** CPU figures below this many µs a side are left out. */
const MIN_CPU_US = 100_000;
/** Each pair of rounds has one of each side; the second half mirrors the first, so a linear drift cancels out. */
const ORDER = ['on', 'off', 'off', 'on', 'off', 'on', 'on', 'off'] as const;
type Side = (typeof ORDER)[number];
interface Server { origin: string; prefix: string; token: string }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Round { side: Side; result: Result; cpu: CpuSample }
interface Rounds { rounds: Round[]; events: number; audited: number }

/**
 * One warm-up per side, then the rounds of ORDER; each round's result, by side, with the AuditEvents stored meanwhile
 * and the requests the audited side answered (warm-up included), so that their quotient shows who wrote them.
 */
async function alternate(ctx: BenchContext, servers: Record<Side, Server>, paths: string[], connections: number,
  seconds: number): Promise<Rounds> {
  const run = (side: Side, s: number) => load({ origin: servers[side].origin, token: servers[side].token, connections,
    paths: paths.map((p) => `${servers[side].prefix}/${p}`), warmUp: false }, s);
  const before = await ctx.raw.call<number>('auditEvents');
  let audited = (await run('on', 1)).requests.total;
  await run('off', 1);
  const rounds: Rounds['rounds'] = [];
  for (const side of ORDER) {
    const before = sampleCpu(ctx.hearth.pid);
    const result = await run(side, seconds);
    rounds.push({ side, result, cpu: cpuSpent(before, sampleCpu(ctx.hearth.pid)) });
  }
  audited += rounds.reduce((n, r) => n + (r.side === 'on' ? r.result.requests.total : 0), 0);
  return { rounds, events: await ctx.raw.call<number>('auditEvents') - before, audited };
}

/** requests/s over all of a side's rounds, and the median of its rounds' p50 and p99; pair ratios in the note. */
function rowsFor(suite: string, { rounds, events, audited }: Rounds, seconds: number, postgresHere: boolean,
  { target, note }: { target?: number; note?: string } = {}): ResultRow[] {
  const of = (side: Side) => rounds.filter((r) => r.side === side).map((r) => r.result);
  const rate = (rs: Result[]) => rs.reduce((n, r) => n + r.requests.total, 0) / rs.reduce((s, r) => s + (r.duration || seconds), 0);
  const pairs = rounds.flatMap((r, i) => (i % 2 ? [] : [[r, rounds[i + 1]!]]))
    .map((pair) => requestsPerS(pair.find((r) => r.side === 'on')!.result, seconds)
      / requestsPerS(pair.find((r) => r.side === 'off')!.result, seconds));
  const [on, off] = [of('on'), of('off')];
  const spread = `${on.length} rounds of ${seconds} s per side; per-pair ratios ${Math.min(...pairs).toFixed(2)}–${Math.max(...pairs).toFixed(2)}; `
    + `${(events / Math.max(1, audited)).toFixed(2)} AuditEvents per audited request`;
  const throughput = row(suite, 'requests_per_s', rate(on), rate(off),
    `Hearth audited, baseline HEARTH_AUDIT=off on the same process and data; ${spread}${note ? `; ${note}` : ''}`);
  // CPU a request, by side: where the audited side's extra time goes (Node or the database).
  const perRequest = (side: Side, k: keyof CpuSample) => {
    const rs = rounds.filter((r) => r.side === side);
    if (rs.some((r) => r.cpu[k] === undefined)) return null;
    const us = rs.reduce((n, r) => n + r.cpu[k]!, 0);
    // /proc counts in 10 ms ticks: below 0.1 s a side (short runs) the figure would be noise, or zero
    return us < MIN_CPU_US ? null : us / rs.reduce((n, r) => n + r.result.requests.total, 0);
  };
  const cpu = (['node', 'postgres'] as const).filter((k) => (k === 'node' || postgresHere) && perRequest('on', k) !== null && perRequest('off', k) !== null)
    .map((k) => row(suite, k === 'node' ? 'node_cpu_us' : 'postgres_cpu_us', perRequest('on', k), perRequest('off', k),
      `µs a request; ${k === 'node' ? 'the Hearth process' : 'every postgres process on this machine'}`));
  return [target === undefined ? throughput : withTarget(throughput, target), ...cpu,
    row(suite, 'p50_ms', median(on.map((r) => r.latency.p50)), median(off.map((r) => r.latency.p50)), 'median of the rounds'),
    row(suite, 'p99_ms', median(on.map((r) => r.latency.p99)), median(off.map((r) => r.latency.p99)), 'median of the rounds')];
}

/** The search suite's queries over the sampled patients, without those the server does not answer with 200. */
async function searchPaths(ctx: BenchContext): Promise<{ paths: string[]; left: string[] }> {
  const http = agent(1);
  const left: string[] = [];
  const paths: string[] = [];
  for (const q of QUERIES) {
    const r = await request(http, 'GET', `${ctx.base}/${q.http(ctx.state.patients[0]!)}`);
    if (r.status === 200) paths.push(...ctx.state.patients.map((p) => q.http(p)));
    else left.push(`${q.name} (${r.status})`);
  }
  http.destroy();
  return { paths, left };
}

export async function runAudit(ctx: BenchContext): Promise<SuiteOutcome> {
  if (!(await ctx.hearth.call<{ audited: boolean }>('info')).audited) {
    return { rows: [], skipped: { suite: 'audit', reason: 'HEARTH_AUDIT is off in the environment: no audited side to measure' } };
  }
  const seconds = Math.max(1, Math.round(ctx.options.seconds / (ORDER.length / 2)));
  // The postgres processes on this machine are the bench's server only when it runs here (not PGlite, not remote).
  const postgresHere = !ctx.options.pglite && ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(ctx.options.databaseUrl).hostname);
  const ids = await ctx.raw.call<{ type: string; id: string }[]>('sampleIds', { n: IDS });
  const search = await searchPaths(ctx);
  await ctx.raw.call('vacuum');
  const base = new URL(ctx.base);
  const off = await ctx.hearth.call<{ port: number; token: string }>('listenUnaudited');
  try {
    const servers: Record<Side, Server> = { on: { origin: base.origin, prefix: base.pathname, token: ctx.token },
      off: { origin: `http://127.0.0.1:${off.port}`, prefix: base.pathname, token: off.token } };
    const reads = await alternate(ctx, servers, ids.map((r) => `${r.type}/${r.id}`), READ_CONNECTIONS, seconds);
    const rows = rowsFor('audit/read', reads, seconds, postgresHere, { target: READ_TARGET });
    if (search.paths.length === 0) {
      return { rows, skipped: { suite: 'audit/search', reason: `no search query answered 200: ${search.left.join(', ')}` } };
    }
    const searches = await alternate(ctx, servers, search.paths, SEARCH_CONNECTIONS, seconds);
    const left = search.left.length ? `left out, not answered 200: ${search.left.join(', ')}` : undefined;
    return { rows: [...rows, ...rowsFor('audit/search', searches, seconds, postgresHere, { note: left })] };
  } finally {
    await ctx.hearth.call('closeUnaudited');
  }
}
