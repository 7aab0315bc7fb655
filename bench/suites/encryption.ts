/**
 * encryption (issue #17 Speed): transaction ingest and reads by id into a tenant with encryption at rest, beside a
 * tenant in clear on the same server process and database, in alternating rounds (sealed, plain, plain, sealed) so
 * that a shared machine's drift falls on both sides alike. Target: each side's rate with encryption ≥ 0.90 of without.
 */
import { patientBundle } from '../data/bundle.js';
import type { BenchContext } from '../lib/context.js';
import { agent, expectStatus, request, useToken } from '../lib/http.js';
import { type SuiteOutcome, row, runPool, timed, withTarget } from '../lib/stats.js';
import { CONNECTIONS, load, requestsPerS } from './read.js';

/** "Encryption must cost at most 10% of read and ingest throughput." */
export const TARGET = 0.9;
const ORDER = ['sealed', 'plain', 'plain', 'sealed'] as const;
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
    // Ingest: the same patients' Bundles into each tenant, half of them in each of a side's two rounds.
    const patients = Math.max(8, Math.min(ctx.options.patients, 200));
    const bundles = Array.from({ length: patients }, (_, i) => patientBundle(ctx.options.seed + 1, i));
    const halves = [bundles.slice(0, patients >> 1), bundles.slice(patients >> 1)];
    const ingested: Record<Side, { seconds: number; resources: number }> = { sealed: { seconds: 0, resources: 0 }, plain: { seconds: 0, resources: 0 } };
    const http = agent(INGEST_CONCURRENCY);
    for (const [i, side] of ORDER.entries()) {
      const half = halves[i < 2 ? 0 : 1]!;
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
    await load({ origin, paths: paths.sealed, token: twins.sealed.token, warmUp: false }, 1);
    await load({ origin, paths: paths.plain, token: twins.plain.token, warmUp: false }, 1);
    for (const side of ORDER) {
      const r = await load({ origin, paths: paths[side], token: twins[side].token, connections: CONNECTIONS, warmUp: false }, seconds);
      reads[side].requests += r.requests.total;
      reads[side].seconds += r.requests.total / requestsPerS(r, seconds);
    }
    const readRate = (side: Side) => reads[side].requests / reads[side].seconds;
    const note = (what: string) => `Hearth with encryption at rest, baseline a tenant in clear on the same process; ${what}; rounds sealed, plain, plain, sealed`;
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
