/** create: single POSTs from 16 concurrent clients, beside one-row INSERTs (+ history and index rows), one commit each. */
import { vitalSign } from '../data/clinical.js';
import { VITALS } from '../data/codes.js';
import { NOW } from '../data/bundle.js';
import { Rng } from '../data/prng.js';
import { days } from '../data/shapes.js';
import type { BenchContext } from '../lib/context.js';
import { agent, expectStatus, request } from '../lib/http.js';
import { peakRss } from '../lib/memory.js';
import { type SuiteOutcome, type Timing, percentile, rate, row, runPool, timed } from '../lib/stats.js';

const CONCURRENCY = 16;

/** New vital-sign Observations for the sampled patients (JSON text, made before timing). */
export function createBodies(ctx: BenchContext): string[] {
  const rng = new Rng(ctx.options.seed + 1);
  const { patients } = ctx.state;
  if (patients.length === 0) throw new Error('create needs the patients of the ingest suite');
  return Array.from({ length: ctx.options.creates }, (_, i) => {
    const subject = { patient: `Patient/${patients[i % patients.length]!.id}`, practitioner: '', organization: '' };
    return JSON.stringify(vitalSign(rng, subject, undefined, rng.pick(VITALS), NOW - days(rng.int(0, 30))));
  });
}

export async function createHearth(ctx: BenchContext, posts: string[]): Promise<Timing> {
  const http = agent(CONCURRENCY);
  const run = await timed(() => runPool(posts, CONCURRENCY, async (body) => {
    expectStatus(await request(http, 'POST', `${ctx.base}/Observation`, body), 201, 'create Observation');
  }));
  http.destroy();
  return { seconds: run.seconds, count: posts.length, latencies: run.result };
}

export async function runCreate(ctx: BenchContext): Promise<SuiteOutcome> {
  const posts = createBodies(ctx);
  const afterRid = await ctx.raw.call<number>('maxRid');
  const hearth = await peakRss(ctx.hearth, () => createHearth(ctx, posts));
  const b = await ctx.raw.call<Timing>('create', { afterRid, concurrency: CONCURRENCY });
  const h = hearth.result;
  ctx.state.create = h;
  return { rssMb: hearth.rssMb, rows: [
    row('create', 'requests_per_s', rate(h), rate(b)),
    row('create', 'p50_ms', percentile(h.latencies!, 50), percentile(b.latencies!, 50)),
    row('create', 'p99_ms', percentile(h.latencies!, 99), percentile(b.latencies!, 99)),
  ] };
}
