/**
 * encryption (issue #17 Speed): transaction ingest and reads by id into a tenant with encryption at rest, beside a
 * tenant in clear on the same server process and database, in alternating rounds (sealed, plain, plain, sealed) so
 * that a shared machine's drift falls on both sides alike; before each round the audit chain's pending events are
 * sealed and both tenants' tables vacuumed, so that no round pays for the background work another left. Target: each side's rate with encryption ≥ 0.90 of without.
 */
import { patientBundle } from '../data/bundle.js';
import type { BenchContext } from '../lib/context.js';
import { agent, expectStatus, request, useToken } from '../lib/http.js';
import { type SuiteOutcome, row, runPool, timed, withTarget } from '../lib/stats.js';
import { CONNECTIONS, load, requestsPerS } from './read.js';

/** "Encryption must cost at most 10% of read and ingest throughput." */
export const TARGET = 0.9;
/** Rounds in mirrored pairs (ABBA ABBA): a drift that is linear in time falls on both sides alike. */
const ORDER = ['sealed', 'plain', 'plain', 'sealed', 'sealed', 'plain', 'plain', 'sealed'] as const;
type Side = (typeof ORDER)[number];
interface Twin { prefix: string; token: string; schema: string }
const INGEST_CONCURRENCY = 4;

export async function runEncryption(ctx: BenchContext): Promise<SuiteOutcome> {
  const origin = new URL(ctx.base).origin;
  const twins: Record<Side, Twin> = {
    sealed: await ctx.hearth.call<Twin>('twinTenant', { encrypted: true }),
    plain: await ctx.hearth.call<Twin>('twinTenant', { encrypted: false }),
  };
  try {
    // Ingest: the same patients' Bundles into each tenant, a quarter of them in each of a side's four rounds.
    const patients = Math.max(8, Math.min(ctx.options.patients, 200));
    const bundles = Array.from({ length: patients }, (_, i) => patientBundle(ctx.options.seed + 1, i));
    const quarters = [0, 1, 2, 3].map((q) => bundles.slice(Math.floor(patients * q / 4), Math.floor(patients * (q + 1) / 4)));
    const ingested: Record<Side, { seconds: number; resources: number }> = { sealed: { seconds: 0, resources: 0 }, plain: { seconds: 0, resources: 0 } };
    const http = agent(INGEST_CONCURRENCY);
    for (const [i, side] of ORDER.entries()) {
      const half = quarters[i >> 1]!;
      await ctx.hearth.call('settle');
      useToken(twins[side].token);
      const run = await timed(() => runPool(half, INGEST_CONCURRENCY, async (g) => {
        expectStatus(await request(http, 'POST', `${origin}${twins[side].prefix}`, JSON.stringify(g.bundle)), 200, `${side} transaction`);
      }));
      ingested[side].seconds += run.seconds;
      ingested[side].resources += half.reduce((n, g) => n + g.resources, 0);
    }
    http.destroy();
    useToken(ctx.token);
    const rate = (side: Side) => ingested[side].resources / ingested[side].seconds;
    // Reads by id: the same number of each tenant's resources, at the read suite's concurrency.
    const seconds = Math.max(1, Math.round(ctx.options.seconds / 2));
    const paths: Record<Side, string[]> = { sealed: [], plain: [] };
    for (const side of ['sealed', 'plain'] as const) {
      const ids = await ctx.hearth.call<{ type: string; id: string }[]>('twinIds', { schema: twins[side].schema, n: 1000 });
      paths[side] = ids.map((r) => `${twins[side].prefix}/${r.type}/${r.id}`);
    }
    const reads: Record<Side, { requests: number; seconds: number }> = { sealed: { requests: 0, seconds: 0 }, plain: { requests: 0, seconds: 0 } };
    // Warm-up at full concurrency, a round a side (the first measured round ran a fifth slower than the last, either side).
    for (const side of ['sealed', 'plain'] as const) {
      await load({ origin, paths: paths[side], token: twins[side].token, connections: CONNECTIONS, warmUp: false }, seconds);
    }
    for (const side of ORDER) {
      await ctx.hearth.call('settle');
      const r = await load({ origin, paths: paths[side], token: twins[side].token, connections: CONNECTIONS, warmUp: false }, seconds);
      reads[side].requests += r.requests.total;
      reads[side].seconds += r.requests.total / requestsPerS(r, seconds);
    }
    const readRate = (side: Side) => reads[side].requests / reads[side].seconds;
    const note = (what: string) => `Hearth with encryption at rest, baseline a tenant in clear on the same process; ${what}; rounds sealed, plain, plain, sealed twice over, each after the audit chain was sealed and the tables vacuumed`;
    return { rows: [
      withTarget(row('encryption/ingest', 'resources_per_s', rate('sealed'), rate('plain'),
        note(`${patients} patients' transaction Bundles (${ingested.sealed.resources} resources a side), ${INGEST_CONCURRENCY} at a time`)), TARGET),
      withTarget(row('encryption/read', 'requests_per_s', readRate('sealed'), readRate('plain'),
        note(`GET [type]/[id] over ${paths.sealed.length} resources a side, ${CONNECTIONS} connections, ${seconds} s a round`)), TARGET),
    ] };
  } finally {
    useToken(ctx.token);
    await ctx.hearth.call('dropTwins');
  }
}
