/**
 * notify (issue #20 Speed): single creates from 16 clients while 100 rest-hook Subscriptions are active, beside single
 * creates of the same bodies' kind without subscriptions, measured by this suite just before (≥ 0.8 required); and the
 * time from a change to its delivery at that load (p95 ≤ 1 s required).
 *
 * The subscriptions are one per patient (`Observation?subject=Patient/<id>`, R4 rest-hook with the resource as
 * payload) for the first 100 patients of the ingest, and the creates are Observations of those patients: every create
 * meets exactly one subscription, and every write is tested against all 100 (in memory, subscriptions/matcher.ts).
 * The receiver is an HTTP server in this driver process, answering 200 at once. A delivery's latency is its arrival
 * minus the resource's meta.lastUpdated (stamped before the commit, so the figure includes the commit itself). The
 * subscriptions are deleted afterwards.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BenchContext } from '../lib/context.js';
import { agent, expectStatus, request } from '../lib/http.js';
import { peakRss } from '../lib/memory.js';
import { type CpuSample, cpuSpent, sampleCpu } from '../lib/cpu.js';
import { type SuiteOutcome, type Timing, percentile, rate, row, runPool, timed, withTarget } from '../lib/stats.js';
import { createBodies, createHearth } from './create.js';

const CONCURRENCY = 16;
const SUBSCRIPTIONS = 100;
/** The bounds: creates with subscriptions ≥ 0.8 of creates without; p95 change-to-delivery ≤ 1 s. */
const TARGET = 0.8;
const LATENCY_TARGET_MS = 1000;

interface Receiver { url: string; arrivals: Map<string, number>; close(): Promise<void> }

async function receiver(): Promise<Receiver> {
  const arrivals = new Map<string, number>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const m = /\/Observation\/([^/?]+)$/.exec(req.url ?? '');
      if (m && !arrivals.has(m[1]!)) arrivals.set(m[1]!, Date.now());
      res.statusCode = 200;
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, arrivals,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

async function waitUntil(what: string, ms: number, done: () => Promise<boolean> | boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > until) throw new Error(`notify: ${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CPU of every side, this driver (load and receiver) included, in µs. */
const sides = (ctx: BenchContext): CpuSample & { driver: number } => {
  const u = process.cpuUsage();
  return { ...sampleCpu(ctx.hearth.pid), driver: u.user + u.system };
};

/** µs a create by side, between two samples (the postgres side only when the database runs on this machine). */
function perCreate(ctx: BenchContext, before: ReturnType<typeof sides>, after: ReturnType<typeof sides>, creates: number) {
  const spent = cpuSpent(before, after);
  const postgresHere = !ctx.options.pglite && ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(ctx.options.databaseUrl).hostname);
  return { node: spent.node === undefined ? null : spent.node / creates,
    postgres: spent.postgres === undefined || !postgresHere ? null : spent.postgres / creates, driver: (after.driver - before.driver) / creates };
}

export async function runNotify(ctx: BenchContext): Promise<SuiteOutcome> {
  const patients = ctx.state.patients.slice(0, SUBSCRIPTIONS);
  const scoped = { ...ctx, state: { ...ctx.state, patients } };
  const plainBefore = sides(ctx);
  const without = await createHearth(ctx, createBodies(scoped));
  const plainCpu = perCreate(ctx, plainBefore, sides(ctx), without.count);
  const rx = await receiver();
  const http1 = agent(4);
  const ids: string[] = [];
  try {
    for (let i = 0; i < SUBSCRIPTIONS; i++) {
      const body = JSON.stringify({ resourceType: 'Subscription', status: 'requested', reason: 'bench', criteria:
        `Observation?subject=Patient/${patients[i % patients.length]!.id}`,
        channel: { type: 'rest-hook', endpoint: rx.url, payload: 'application/fhir+json' } });
      const res = await request(http1, 'POST', `${ctx.base}/Subscription`, body);
      expectStatus(res, 201, 'create Subscription');
      ids.push((JSON.parse(res.body) as { id: string }).id);
    }
    await waitUntil('every Subscription active', 120_000, async () => {
      const res = await request(http1, 'GET', `${ctx.base}/Subscription?status=active&_summary=count`);
      return (JSON.parse(res.body) as { total: number }).total >= SUBSCRIPTIONS;
    });
    const posts = createBodies({ ...scoped, options: { ...ctx.options, seed: ctx.options.seed + 7 } });
    const written = new Map<string, number>();
    const client = agent(CONCURRENCY);
    const subsBefore = sides(ctx);
    const run = await peakRss(ctx.hearth, () => timed(() => runPool(posts, CONCURRENCY, async (body) => {
      const res = await request(client, 'POST', `${ctx.base}/Observation`, body);
      expectStatus(res, 201, 'create Observation');
      const created = JSON.parse(res.body) as { id: string; meta: { lastUpdated: string } };
      written.set(created.id, Date.parse(created.meta.lastUpdated));
    })));
    client.destroy();
    const withSubs: Timing = { seconds: run.result.seconds, count: posts.length, latencies: run.result.result };
    await waitUntil(`all ${written.size} notifications delivered`, 300_000, () => [...written.keys()].every((id) => rx.arrivals.has(id)));
    const subsCpu = perCreate(ctx, subsBefore, sides(ctx), written.size);
    const latencies = [...written].map(([id, at]) => rx.arrivals.get(id)! - at);
    const p95 = percentile(latencies, 95);
    const note = `baseline: the same number of creates of the same patients' Observations without subscriptions, measured by this suite; `
      + `${SUBSCRIPTIONS} active rest-hook Subscriptions, each create meeting one`;
    return { rssMb: run.rssMb, rows: [
      withTarget(row('notify', 'requests_per_s', rate(withSubs), rate(without), note), TARGET),
      row('notify', 'p50_ms', percentile(withSubs.latencies!, 50), percentile(without.latencies!, 50), 'create latency, baseline: without subscriptions'),
      row('notify', 'p95_ms', p95, LATENCY_TARGET_MS, `change to delivery at the endpoint (from meta.lastUpdated), p95; baseline: the 1 s bound `
        + `(ratio ≤ 1 meets it); p50 ${Math.round(percentile(latencies, 50))} ms, max ${Math.round(Math.max(...latencies))} ms`),
      // Where a notification's cost lands: CPU a create (its delivery included, up to the last arrival) by side.
      ...(['node', 'postgres', 'driver'] as const).filter((k) => subsCpu[k] !== null && plainCpu[k] !== null).map((k) =>
        row('notify', `${k}_cpu_us`, subsCpu[k], plainCpu[k], `µs a create, its delivery included; ${k === 'node' ? 'the server process'
          : k === 'postgres' ? 'every postgres process on this machine' : 'the bench driver: its clients and the receiver'}; baseline: without subscriptions`)),
    ] };
  } finally {
    for (const id of ids) await request(http1, 'DELETE', `${ctx.base}/Subscription/${id}`).catch(() => undefined);
    http1.destroy();
    await rx.close();
  }
}
