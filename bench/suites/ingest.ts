/** ingest: one transaction Bundle per patient over HTTP, 4 at a time, beside batched INSERTs of the same rows. */
import { patientBundle } from '../data/bundle.js';
import type { BenchContext, SamplePatient } from '../lib/context.js';
import { cpuSpent, sampleCpu } from '../lib/cpu.js';
import { agent, expectStatus, request } from '../lib/http.js';
import { peakRss } from '../lib/memory.js';
import { type SuiteOutcome, type Timing, rate, row, runPool, timed } from '../lib/stats.js';

const CONCURRENCY = 4;
/** CPU below this much a side is not reported: /proc's 10 ms ticks would make it noise. */
const MIN_CPU_US = 100_000;
/** Bundles generated (untimed) before each timed burst, so memory stays flat at any scale. */
const CHUNK = 100;
/**
 * Bundles whose stored rows the baseline fetches (untimed) before each timed burst: small, so that the baseline's
 * process holds about as much data at once as a server working on a few bundles does.
 */
const BASELINE_CHUNK = 24;
/** Patients remembered for the read, create and search suites. */
const SAMPLES = 50;

interface Prepared { index: number; body: string; resources: number; patientEntry: number; person: SamplePatient }

function prepare(ctx: BenchContext, from: number, to: number): Prepared[] {
  const out: Prepared[] = [];
  for (let i = from; i < to; i++) {
    const g = patientBundle(ctx.options.seed, i);
    out.push({ index: i, body: JSON.stringify(g.bundle), resources: g.resources, patientEntry: g.patientEntry,
      person: { id: '', mrn: g.person.mrn, family: g.person.family, given: g.person.given } });
  }
  return out;
}

/** The server id of the bundle's Patient, from the transaction-response entry's location. */
function patientId(body: string, entry: number): string {
  const location = (JSON.parse(body) as { entry: { response: { location: string } }[] }).entry[entry]!.response.location;
  const m = /Patient\/([^/]+)/.exec(location);
  if (!m) throw new Error(`no Patient location in transaction response: ${location}`);
  return m[1]!;
}

async function ingestHearth(ctx: BenchContext, sizes: number[]): Promise<Timing> {
  const n = ctx.options.patients;
  const every = Math.max(1, Math.floor(n / SAMPLES));
  const http = agent(CONCURRENCY);
  let seconds = 0;
  let count = 0;
  for (let from = 0; from < n; from += CHUNK) {
    const batch = prepare(ctx, from, Math.min(n, from + CHUNK));
    const run = await timed(() => runPool(batch, CONCURRENCY, async (p) => {
      const r = await request(http, 'POST', ctx.base, p.body);
      expectStatus(r, 200, `transaction of patient ${p.index}`);
      if (p.index % every === 0) ctx.state.patients.push({ ...p.person, id: patientId(r.body, p.patientEntry) });
    }));
    seconds += run.seconds;
    for (const p of batch) { count += p.resources; sizes.push(p.resources); }
    if ((from / CHUNK) % 10 === 9) process.stderr.write(`bench: ingest ${count} resources, ${Math.round(count / seconds)}/s\n`);
  }
  http.destroy();
  return { seconds, count };
}

export async function runIngest(ctx: BenchContext): Promise<SuiteOutcome> {
  const sizes: number[] = [];
  const hearthCpu = sampleCpu(ctx.hearth.pid);
  const hearth = await peakRss(ctx.hearth, () => ingestHearth(ctx, sizes));
  const hearthSpent = cpuSpent(hearthCpu, sampleCpu(ctx.hearth.pid));
  ctx.state.resources = hearth.result.count;
  const baseCpu = sampleCpu(ctx.raw.pid);
  const base = await ctx.raw.call<Timing>('ingest', { sizes, concurrency: CONCURRENCY, chunk: BASELINE_CHUNK });
  const baseSpent = cpuSpent(baseCpu, sampleCpu(ctx.raw.pid));
  if (base.count !== hearth.result.count) {
    throw new Error(`baseline copied ${base.count} resources, Hearth stored ${hearth.result.count}`);
  }
  // CPU a resource, by side: the server process (Hearth's, or the baseline's pg client) and every postgres process of
  // this machine (so only when the bench's PostgreSQL runs here). /proc counts 10 ms ticks: short runs report nothing.
  const postgresHere = !ctx.options.pglite && ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(ctx.options.databaseUrl).hostname);
  const measured = (k: 'node' | 'postgres') => (k === 'node' || postgresHere)
    && (hearthSpent[k] ?? 0) >= MIN_CPU_US && (baseSpent[k] ?? 0) >= MIN_CPU_US;
  const perResource = (spent: number | undefined) => (spent === undefined ? null : spent / hearth.result.count);
  const cpu = (['node', 'postgres'] as const).filter(measured)
    .map((k) => row('ingest', k === 'node' ? 'node_cpu_us' : 'postgres_cpu_us', perResource(hearthSpent[k]),
      perResource(baseSpent[k]), `µs a resource; ${k === 'node' ? 'the server process' : 'every postgres process on this machine'}`));
  return { rows: [row('ingest', 'resources_per_s', rate(hearth.result), rate(base)), ...cpu], rssMb: hearth.rssMb };
}
