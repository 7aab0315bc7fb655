/**
 * book: bookings/s from 16 concurrent clients, each `POST Appointment` (status booked) over its own free Slot, beside the
 * single-create figure of the same run (issue #18, Speed: a booking must cost at most 2× a plain create, i.e. book ÷
 * create requests/s ≥ 0.5). A booking is a create plus the scheduling rule: one read of the Slot, its Schedule, the
 * taken-slot and overlap checks and the turns (before the transaction, src/workflows/scheduling.ts), then the booking
 * and turn rows and the Slot's new `busy` version with the Appointment's writes.
 *
 * Setup, untimed: BOOKERS practitioners, each with a Schedule, and as many free Slots as the create suite makes
 * Observations, dealt out round-robin (slot k is practitioner k mod BOOKERS's, at the k ÷ BOOKERS-th 20-minute step
 * from a day a month ahead), so the 16 bookings in flight at a time are of different practitioners and never contend
 * for one lock, and none overlaps another of its practitioner. After the run every Slot must be busy.
 */
import type { Bundle } from '../../src/fhir/types.js';
import type { BenchContext } from '../lib/context.js';
import { agent, expectStatus, request } from '../lib/http.js';
import { peakRss } from '../lib/memory.js';
import { type SuiteOutcome, type Timing, percentile, rate, row, runPool, timed, withTarget } from '../lib/stats.js';
import { createBodies, createHearth } from './create.js';

const CONCURRENCY = 16;
/** Practitioners (each with one Schedule) whose slots are booked: several times CONCURRENCY, so turns do not collide. */
const BOOKERS = 64;
/** Entries a setup transaction carries. */
const SETUP_CHUNK = 500;
const SLOT_MS = 20 * 60_000;
const DAY = 86_400_000;
/** The issue's bound: a booking costs at most 2× a create, i.e. book ÷ create requests/s ≥ 0.5. */
const TARGET = 0.5;

interface Setup { practitioners: string[]; schedules: string[]; slots: { id: string; practitioner: number; start: number }[] }

const post = (resource: Record<string, unknown>, fullUrl?: string) =>
  ({ ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'POST', url: String(resource.resourceType) } });

/** `Type/id` of each entry of a transaction response, in entry order. */
function locations(body: string): string[] {
  return ((JSON.parse(body) as Bundle).entry ?? []).map((e) => {
    const m = /([A-Za-z]+)\/([A-Za-z0-9\-.]+)\/_history\/[^/]+$/.exec(e.response?.location ?? '');
    if (!m) throw new Error(`book setup: no location in transaction response entry: ${JSON.stringify(e.response)}`);
    return m[2]!;
  });
}

async function transaction(ctx: BenchContext, http: ReturnType<typeof agent>, entry: unknown[]): Promise<string[]> {
  const r = await request(http, 'POST', ctx.base, JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }));
  expectStatus(r, 200, 'book setup transaction');
  return locations(r.body);
}

/** Practitioners, their Schedules and `count` free Slots, by transactions of SETUP_CHUNK entries (untimed). */
async function setup(ctx: BenchContext, count: number): Promise<Setup> {
  const http = agent(1);
  const n = Math.min(BOOKERS, count);
  const people = Array.from({ length: n }, (_, i) => post({ resourceType: 'Practitioner', active: true,
    identifier: [{ system: 'https://example.org/bench-booker', value: String(i) }],
    name: [{ family: `Booker ${i}`, given: ['Bench'], prefix: ['Dr.'] }] }, `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`));
  const schedules = people.map((p) => post({ resourceType: 'Schedule', active: true, actor: [{ reference: p.fullUrl }] }));
  const ids = await transaction(ctx, http, [...people, ...schedules]);
  const out: Setup = { practitioners: ids.slice(0, n), schedules: ids.slice(n), slots: [] };
  const from = Math.ceil(Date.now() / DAY) * DAY + 30 * DAY;
  const all = Array.from({ length: count }, (_, k) => ({ practitioner: k % n, start: from + Math.floor(k / n) * SLOT_MS }));
  for (let i = 0; i < all.length; i += SETUP_CHUNK) {
    const chunk = all.slice(i, i + SETUP_CHUNK);
    const slotIds = await transaction(ctx, http, chunk.map((s) => post({ resourceType: 'Slot',
      schedule: { reference: `Schedule/${out.schedules[s.practitioner]}` }, status: 'free',
      start: new Date(s.start).toISOString(), end: new Date(s.start + SLOT_MS).toISOString() })));
    chunk.forEach((s, j) => out.slots.push({ id: slotIds[j]!, ...s }));
  }
  http.destroy();
  return out;
}

/** One booked Appointment a Slot (JSON text, made before timing), for the sampled patients. */
function bookings(ctx: BenchContext, s: Setup): string[] {
  const { patients } = ctx.state;
  if (patients.length === 0) throw new Error('book needs the patients of the ingest suite');
  return s.slots.map((slot, k) => JSON.stringify({
    resourceType: 'Appointment',
    status: 'booked',
    appointmentType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0276', code: 'ROUTINE' }] },
    start: new Date(slot.start).toISOString(),
    end: new Date(slot.start + SLOT_MS).toISOString(),
    slot: [{ reference: `Slot/${slot.id}` }],
    participant: [
      { actor: { reference: `Patient/${patients[k % patients.length]!.id}` }, required: 'required', status: 'accepted' },
      { actor: { reference: `Practitioner/${s.practitioners[slot.practitioner]}` }, required: 'required', status: 'accepted' },
    ],
  }));
}

async function bookHearth(ctx: BenchContext, posts: string[]): Promise<Timing> {
  const http = agent(CONCURRENCY);
  const run = await timed(() => runPool(posts, CONCURRENCY, async (body) => {
    expectStatus(await request(http, 'POST', `${ctx.base}/Appointment`, body), 201, 'book Appointment');
  }));
  http.destroy();
  return { seconds: run.seconds, count: posts.length, latencies: run.result };
}

/** Untimed: every Slot of the suite's Schedules is busy now. */
async function checkBusy(ctx: BenchContext, s: Setup): Promise<void> {
  const http = agent(1);
  const r = await request(http, 'GET', `${ctx.base}/Slot?status=free&schedule=${s.schedules.map((id) => `Schedule/${id}`).join(',')}&_summary=count`);
  http.destroy();
  expectStatus(r, 200, 'count of free Slots');
  const free = (JSON.parse(r.body) as Bundle).total;
  if (free !== 0) throw new Error(`after booking every Slot, ${free} of ${s.slots.length} are still free`);
}

export async function runBook(ctx: BenchContext): Promise<SuiteOutcome> {
  const s = await setup(ctx, ctx.options.creates);
  const posts = bookings(ctx, s);
  // The plain-create figure of this run: the create suite's, else measured here (same bodies, count and clients).
  const measuredHere = ctx.state.create === undefined;
  const create = ctx.state.create ?? await createHearth(ctx, createBodies(ctx));
  const book = await peakRss(ctx.hearth, () => bookHearth(ctx, posts));
  await checkBusy(ctx, s);
  const b = book.result;
  const cost = rate(b) > 0 ? rate(create) / rate(b) : NaN;
  const note = `baseline: Hearth's single creates ${measuredHere ? 'measured by this suite' : 'of the create suite'}, `
    + `${CONCURRENCY} clients; a booking costs ${cost.toFixed(2)}× a create (create ÷ book requests/s), at most 2× required`;
  return { rssMb: book.rssMb, rows: [
    withTarget(row('book', 'requests_per_s', rate(b), rate(create), note), TARGET),
    row('book', 'p50_ms', percentile(b.latencies!, 50), percentile(create.latencies!, 50), 'baseline: Hearth single create'),
    row('book', 'p99_ms', percentile(b.latencies!, 99), percentile(create.latencies!, 99), 'baseline: Hearth single create'),
  ] };
}
