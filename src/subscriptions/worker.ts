/**
 * Delivery (issue #20 §3): workers on every node claim subscriptions with work — a handshake to make, events
 * waiting, a heartbeat due — through `FOR UPDATE SKIP LOCKED` and a lease, so one subscription is served by one worker
 * at a time and its events go out in order. A claim takes up to 64 subscriptions of a tenant, reads what they need in
 * two statements and serves each: a handshake, a heartbeat, a topic notification of up to max-count events, or up to
 * 20 R4 events a request each; the outcomes are written down together. A failure is retried with exponential backoff
 * and jitter, and the events stay in the outbox until delivered, however long the endpoint is away. After five
 * failures in a row the Subscription shows `error` (with the reason) and is retried on; the next success makes it
 * `active` again. Plans, outcomes and claimed rows: attempt.ts.
 *
 * Nothing is sent that the Subscription's creator could not read now: the creator's grant must be live and each
 * event's resource readable under its scopes, roles and the patients' Consents (else the event is withheld: marked,
 * not sent). Every request sent is audited.
 */
import type { Listener, Queryable } from '../db/db.js';
import { FhirError } from '../errors.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import { ident, sql } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';
import type { AuditLog } from '../audit/log.js';
import type { Metrics } from '../metrics.js';
import type { SearchRegistry } from '../search/registry.js';
import { readCurrent } from '../storage/resources.js';
import { sealedColumns } from '../db/vault.js';
import { storedVersions } from './events.js';
import { type WriteHook, writeResource } from '../storage/write.js';
import { type Delivery, auditEvents } from './delivery-audit.js';
import { type RenderDeps, carriesContent, ownerReadable } from './render.js';
import { type SubscriptionSpec, subscriptionSpec } from './model.js';
import { type OutboxEvent, type Request, type Sent, notificationBundle, r4Request, send } from './notify.js';
import { pruneOutbox, tenantBase } from './outbox.js';
import { type Claimed, type ClaimedRead, type Outcome, type Plan, type Prefetched, perNotification, retryDelay,
  CLAIM_GAP_MS, CLAIM_MAX, FLUSH_MS, PARSED_MAX } from './attempt.js';
import { AUTH_CHANNEL, authChanged } from '../auth/grant-cache.js';
import { publish } from './websocket.js';
import { enqueueReminders } from './reminders.js';

export const SUBSCRIPTION_CHANNEL = 'hearth_subscriptions';

/** Failures in a row after which the Subscription shows `error`. */
const ERROR_AFTER = 5;

export interface DeliveryDeps extends RenderDeps {
  /** The write hooks for the server's own status changes (without the subscription hook itself). */
  statusHooks: WriteHook[];
  audit: AuditLog;
  metrics?: Metrics;
}

export class SubscriptionWorker {
  private readonly dirty = new Set<string>();
  private running = 0;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private listener: Listener | undefined;
  private loopDone: Promise<void> | undefined;
  private lastSweep = 0;
  private lastReminders = 0;
  private lastPrune = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private outcomes: Outcome[] = [];
  private flushing: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly bases = new Map<string, string>();
  private readonly parsed = new Map<string, { versionId: unknown; registry: SearchRegistry; base: string; spec: SubscriptionSpec | Error }>();

  constructor(private readonly deps: DeliveryDeps, private readonly options: DeliveryOptions = {}) {}

  async start(): Promise<void> {
    try {
      this.listener = await this.deps.db.listen(SUBSCRIPTION_CHANNEL, {
        message: (schema) => { if (this.serves(schema)) { this.dirty.add(schema); this.wake(); } },
        state: () => this.wake(),
      });
    } catch {
      // Without notifications the periodic sweep still finds every subscription with work.
    }
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
    await Promise.allSettled([...this.inFlight]);
    clearTimeout(this.flushTimer);
    await this.flush();
    await this.listener?.close();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    const sweepMs = this.options.sweepMs ?? 5000;
    let lastRound = 0;
    while (!this.stopped) {
      const gap = lastRound + CLAIM_GAP_MS - Date.now();
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      lastRound = Date.now();
      try {
        const now = Date.now();
        if (now - this.lastSweep >= sweepMs) {
          this.lastSweep = now;
          const schemas = await this.schemas();
          for (const schema of schemas) this.dirty.add(schema);
          if (now - this.lastReminders >= (this.options.remindMs ?? 60_000)) {
            this.lastReminders = now;
            for (const schema of schemas) await enqueueReminders(this.deps, schema).catch(() => undefined);
          }
          if (now - this.lastPrune >= 3_600_000) {
            this.lastPrune = now;
            for (const schema of schemas) await pruneOutbox(this.deps.db, schema, this.deps.config.subscriptionEventDays).catch(() => undefined);
          }
        }
        const schemas = [...this.dirty];
        this.dirty.clear();
        for (const schema of schemas) {
          const free = Math.min(CLAIM_MAX, this.deps.config.subscriptionWorkers - this.running);
          if (free <= 0) { this.dirty.add(schema); continue; }
          const claimed = await this.claim(schema, free);
          if (claimed.length === free) this.dirty.add(schema);
          if (claimed.length > 0) this.track(this.runBatch(schema, claimed));
        }
      } catch {
        // A sweep that failed (database restarting) is tried again at the next tick.
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        this.wakeUp = () => { clearTimeout(timer); resolve(); };
      });
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch(() => undefined).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** Tenants in service whose schema has subscriptions. */
  private async schemas(): Promise<string[]> {
    const rows = await this.deps.db.query<{ schema_name: string }>(sql`SELECT schema_name FROM ${ident(CONTROL_SCHEMA)}.tenant
      WHERE suspended_at IS NULL AND to_regclass(format('%I.subscription_state', schema_name)) IS NOT NULL`);
    return rows.map((r) => r.schema_name).filter((schema) => this.serves(schema));
  }

  private serves(schema: string): boolean {
    return this.options.schemas === undefined || this.options.schemas.includes(schema);
  }

  /** Leases up to `limit` subscriptions with work (read by prefetch in a statement of its own, after the lease is taken). */
  private async claim(schema: string, limit: number): Promise<Claimed[]> {
    const s = ident(schema);
    return this.deps.db.query<Claimed>(sql`UPDATE ${s}.subscription_state st SET lease_until = now() + ${this.leaseMs() / 1000} * interval '1 second'
      WHERE st.id IN (SELECT c.id FROM ${s}.subscription_state c
        WHERE c.status <> 'off' AND c.next_at <= now() AND (c.lease_until IS NULL OR c.lease_until < now())
          AND (c.status = 'requested'
            OR EXISTS (SELECT 1 FROM ${s}.subscription_event e WHERE e.sub_id = c.id AND e.delivered_at IS NULL)
            OR (c.heartbeat_s IS NOT NULL AND c.last_sent_at + c.heartbeat_s * interval '1 second' <= now()))
        ORDER BY c.next_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING st.id, st.owner, st.status, st.failures, st.last_sent_at, st.heartbeat_s, st.lease_until::text AS lease, st.written`);
  }

  /** A claim's lease: the delivery timeout and 30 s (an attempt never starts a request it could not finish within it). */
  private leaseMs(): number {
    return (Math.ceil(this.deps.config.subscriptionTimeoutMs / 1000) + 30) * 1000;
  }

  /**
   * What the claimed subscriptions' attempts need, in one statement read after the claim committed (so it sees every
   * write the claim saw): each Subscription, its event counter and its first pending events (a handshake needs none).
   */
  private async readClaimed(schema: string, rows: Claimed[]): Promise<ClaimedRead[]> {
    const s = ident(schema);
    return this.deps.db.query<ClaimedRead>(sql`SELECT c.id, r.type, r.version, r.deleted, ${sealedColumns(schema, 'r')},
        coalesce(n.last, 0) AS last_event, ev.events
      FROM unnest(${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.status !== 'requested')}::boolean[]) AS c(id, active)
      LEFT JOIN ${s}.resource r ON r.type = 'Subscription' AND r.id = c.id
      LEFT JOIN ${s}.subscription_counter n ON n.id = c.id
      LEFT JOIN LATERAL (SELECT json_agg(json_build_object('number', e.number, 'at', e.at, 'res_type', e.res_type, 'res_id', e.res_id,
          'version', e.version, 'action', e.action) ORDER BY e.number) AS events
        FROM (SELECT * FROM ${s}.subscription_event e WHERE e.sub_id = c.id AND e.delivered_at IS NULL AND c.active
          ORDER BY e.number LIMIT ${CLAIM_MAX}) e) ev ON true`);
  }

  private async baseOf(schema: string): Promise<string | undefined> {
    let base = this.bases.get(schema);
    if (base === undefined) {
      base = (await tenantBase(this.deps.config, this.deps.db, schema))?.base;
      if (base !== undefined) this.bases.set(schema, base);
    }
    return base;
  }

  /** What a batch needs, in a handful of statements whatever its size. */
  private async prefetch(schema: string, claimed: Claimed[]): Promise<Prefetched | undefined> {
    const { db } = this.deps;
    const base = await this.baseOf(schema);
    if (base === undefined) return undefined;
    const registry = await this.deps.tenantSearch.registryFor(db, schema);
    const rows = await this.readClaimed(schema, claimed);
    const subscriptions = new Map(rows.filter((r) => r.content && !r.deleted).map((r) => [r.id, r.content!]));
    const active = claimed.filter((r) => r.status !== 'requested').map((r) => r.id);
    const specs = new Map([...subscriptions].map(([id, resource]) => [id, this.specOf(schema, id, resource, registry, base)]));
    const pending = new Map(rows.map((r) => [r.id, (r.events ?? []).map((e): OutboxEvent => ({ number: Number(e.number),
      at: new Date(e.at), type: e.res_type, id: e.res_id, version: e.version, action: e.action }))]));
    // The versions the batch's notifications carry, read in one statement for all of its subscriptions.
    const carried = active.flatMap((id) => {
      const spec = specs.get(id);
      if (!spec || spec instanceof Error || spec.channel.type === 'websocket' || !carriesContent(spec)) return [];
      return (pending.get(id) ?? []).slice(0, perNotification(spec));
    });
    return { base, registry, subscriptions, specs, counts: new Map(rows.map((r) => [r.id, Number(r.last_event)])), pending,
      accesses: new Map(), stored: await storedVersions(db, schema, carried) };
  }

  /** The Subscription's spec, parsed once per version (or why it can no longer be honoured). */
  private specOf(schema: string, id: string, resource: Resource, registry: SearchRegistry, base: string): SubscriptionSpec | Error {
    const key = `${schema}/${id}`;
    const versionId = resource.meta?.versionId;
    const kept = this.parsed.get(key);
    if (kept && kept.versionId === versionId && kept.registry === registry && kept.base === base) return kept.spec;
    let spec: SubscriptionSpec | Error;
    try {
      spec = subscriptionSpec({ registry, defs: this.deps.defs, base }, resource, this.deps.config.subscriptionAllowUrls);
    } catch (e) {
      spec = e instanceof Error ? e : new Error(String(e));
    }
    this.parsed.delete(key);
    if (this.parsed.size >= PARSED_MAX) this.parsed.delete(this.parsed.keys().next().value!);
    this.parsed.set(key, { versionId, registry, base, spec });
    return spec;
  }

  private async runBatch(schema: string, rows: Claimed[]): Promise<void> {
    this.running += rows.length;
    let pre: Prefetched | undefined;
    try {
      pre = await this.prefetch(schema, rows);
    } catch {
      pre = undefined;
    }
    await Promise.all(rows.map(async (row) => {
      let outcome: Outcome;
      try {
        outcome = pre ? await this.attempt(schema, row, pre) : { schema, row, ok: false, error: 'Delivery failed inside the server' };
      } catch {
        outcome = { schema, row, ok: false, error: 'Delivery failed inside the server' };
      }
      this.settle(outcome);
    }));
  }

  /** One subscription's turn: plan, send, and the outcome to write down. */
  private async attempt(schema: string, row: Claimed, pre: Prefetched): Promise<Outcome> {
    const resource = pre.subscriptions.get(row.id);
    if (!resource) return { schema, row, ok: true, gone: true };
    if (resource.meta?.versionId !== undefined) row.version = String(resource.meta.versionId);
    const spec = pre.specs.get(row.id)!;
    if (spec instanceof Error) {
      await this.fail(schema, row, spec.message, true);
      return { schema, row, ok: true, release: true, spec: undefined };
    }
    const status = String(resource.status);
    const plan = await this.plan(schema, row, pre, spec, status);
    switch (plan.kind) {
      case 'idle': return { schema, row, ok: true, release: true, spec, status };
      case 'activate': return { schema, row, ok: true, spec, status };
      case 'publish': {
        await publish(this.deps.db, plan.publication);
        const sent = { ok: true, status: 200 };
        return { schema, row, spec, status, ok: true, ...(plan.last !== undefined ? { last: plan.last } : {}),
          audits: [this.delivery(pre, spec, row, { method: 'NOTIFY', url: `${pre.base}/websocket` }, plan.events, plan.label, sent)] };
      }
      case 'send': {
        const sent = await send(spec, plan.req, this.deps.config.subscriptionTimeoutMs);
        const audits = [this.delivery(pre, spec, row, plan.req, plan.events, plan.label, sent)];
        return sent.ok ? { schema, row, spec, status, ok: true, audits, ...(plan.last !== undefined ? { last: plan.last } : {}) }
          : { schema, row, spec, status, ok: false, error: sent.error!, audits };
      }
      case 'send-each': return this.sendEach(schema, row, pre, spec, status, plan);
    }
  }

  /**
   * R4 events in order, one request each, until one fails (the rest stay pending, retried after the backoff) or the
   * next request might not end within the claim's lease (the rest go at the next claim).
   */
  private async sendEach(schema: string, row: Claimed, pre: Prefetched, spec: SubscriptionSpec, status: string,
    plan: Extract<Plan, { kind: 'send-each' }>): Promise<Outcome> {
    const { subscriptionTimeoutMs } = this.deps.config;
    const started = Date.now();
    const audits: Delivery[] = [];
    // Room for the outcome to be written down before the lease lapses.
    const deadline = started + this.leaseMs() - 15_000;
    for (const [i, { req, event }] of plan.sends.entries()) {
      if (i > 0 && Date.now() + subscriptionTimeoutMs > deadline) {
        return { schema, row, spec, status, ok: true, audits, last: plan.sends[i - 1]!.event.number };
      }
      const sent = await send(spec, req, subscriptionTimeoutMs);
      audits.push(this.delivery(pre, spec, row, req, [event], 'event-notification', sent));
      if (!sent.ok) {
        return { schema, row, spec, status, ok: false, error: sent.error!, audits, ...(i > 0 ? { last: plan.sends[i - 1]!.event.number } : {}) };
      }
    }
    return { schema, row, spec, status, ok: true, audits, last: plan.last };
  }

  private async plan(schema: string, row: Claimed, pre: Prefetched, spec: SubscriptionSpec, status: string): Promise<Plan> {
    const since = pre.counts.get(row.id) ?? 0;
    const websocket = spec.channel.type === 'websocket';
    if (row.status === 'requested') {
      if (websocket) return { kind: 'activate' };
      const req: Request = spec.kind === 'topic'
        ? { method: 'POST', url: spec.channel.endpoint!, body: JSON.stringify(notificationBundle(pre.base, spec, 'requested', 'handshake', since, [])) }
        : r4Request(spec, undefined);
      return { kind: 'send', req, events: [], label: 'handshake' };
    }
    const events = (pre.pending.get(row.id) ?? []).slice(0, perNotification(spec));
    if (events.length === 0) {
      if (spec.kind !== 'topic' || !row.heartbeat_s) return { kind: 'idle' };
      if (websocket) return { kind: 'publish', publication: { schema, id: row.id, kind: 'heartbeat' }, events: [], label: 'heartbeat' };
      return { kind: 'send', label: 'heartbeat', events: [], req: { method: 'POST', url: spec.channel.endpoint!,
        body: JSON.stringify(notificationBundle(pre.base, spec, status, 'heartbeat', since, [])) } };
    }
    const last = events[events.length - 1]!.number;
    if (websocket) {
      return { kind: 'publish', publication: { schema, id: row.id, kind: 'events', first: events[0]!.number, last }, events, last,
        label: 'event-notification' };
    }
    const { allowed, withheld } = await ownerReadable(this.deps, schema, pre.base, pre.registry, row.owner, spec, events,
      { accesses: pre.accesses, stored: pre.stored });
    if (withheld.length > 0) {
      await this.deps.db.query(sql`UPDATE ${ident(schema)}.subscription_event SET delivered_at = now(),
        withheld = 'not readable by the subscription''s creator'
        WHERE sub_id = ${row.id} AND number = ANY(${withheld.map((e) => e.number)}::bigint[])`);
    }
    if (allowed.length === 0) return { kind: 'idle' };
    if (spec.kind !== 'topic') return { kind: 'send-each', sends: allowed.map((event) => ({ req: r4Request(spec, event), event })), last };
    const req: Request = { method: 'POST', url: spec.channel.endpoint!,
      body: JSON.stringify(notificationBundle(pre.base, spec, status, 'event-notification', since, allowed)) };
    return { kind: 'send', req, events: allowed, last, label: 'event-notification' };
  }

  private delivery(pre: Prefetched, spec: SubscriptionSpec, row: Claimed, req: { method: string; url: string }, events: OutboxEvent[],
    kind: string, sent: Sent): Delivery {
    this.deps.metrics?.counter('hearth_subscription_notifications_total', 'Subscription notifications sent, by outcome', 'outcome')
      .inc({ outcome: sent.ok ? 'delivered' : 'failed' });
    return { base: pre.base, registry: pre.registry, subscription: spec.id, owner: row.owner, req, events, kind, sent };
  }

  /** Finished attempts are written down together a few milliseconds later (one transaction for all of them). */
  private settle(outcome: Outcome): void {
    this.outcomes.push(outcome);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.track(this.flush());
    }, FLUSH_MS);
  }

  private async flush(): Promise<void> {
    await this.flushing;
    const taken = this.outcomes;
    this.outcomes = [];
    if (taken.length === 0) return;
    this.flushing = this.write(taken).finally(() => {
      this.running -= taken.length;
      for (const o of taken) this.dirty.add(o.schema);
      this.wake();
    });
    await this.flushing;
  }

  /**
   * Writes the outcomes of each tenant in one transaction; when that fails, each on its own (one that cannot be
   * written then counts as a failed attempt, so that its subscription is retried rather than left leased).
   */
  private async write(taken: Outcome[]): Promise<void> {
    const bySchema = new Map<string, Outcome[]>();
    for (const o of taken) bySchema.set(o.schema, [...bySchema.get(o.schema) ?? [], o]);
    for (const [schema, list] of bySchema) {
      try {
        await this.writeTenant(schema, list);
      } catch {
        for (const o of list) {
          await this.writeTenant(schema, [o]).catch(() => this.fail(schema, o.row, 'Delivery could not be recorded').catch(() => undefined));
        }
      }
    }
  }

  /** One statement for what went well (events delivered, states active and released, gone ones removed). */
  private async writeTenant(schema: string, list: Outcome[]): Promise<void> {
    const s = ident(schema);
    const done = list.filter((o) => o.ok && !o.release && !o.gone);
    // Also a failed attempt's events sent before its failure (R4: one request an event).
    const delivered = list.filter((o) => o.last !== undefined && !o.release && !o.gone);
    const released = list.filter((o) => o.release);
    const gone = list.filter((o) => o.gone);
    // Changes apply only while the row holds this attempt's lease, a status only while no client wrote it since (Claimed).
    const held = (of: Outcome[]) => sql`(id, lease_until) IN (SELECT * FROM unnest(${of.map((o) => o.row.id)}::text[],
      ${of.map((o) => o.row.lease)}::timestamptz[]))`;
    const unwritten = sql`(id, written) IN (SELECT * FROM unnest(${done.map((o) => o.row.id)}::text[],
      ${done.map((o) => o.row.written)}::int[]))`;
    let kept = new Set<string>();
    if (done.length + delivered.length + released.length + gone.length > 0) {
      // Events only of the incarnation that was claimed (a Subscription deleted and made again restarts its numbers).
      const rows = await this.deps.db.query<{ id: string }>(sql`WITH ev AS (UPDATE ${s}.subscription_event e SET delivered_at = now()
          FROM unnest(${delivered.map((o) => o.row.id)}::text[], ${delivered.map((o) => o.last!)}::bigint[],
            ${delivered.map((o) => o.row.lease)}::timestamptz[]) AS u(id, last, lease)
          WHERE e.sub_id = u.id AND e.number <= u.last AND e.delivered_at IS NULL
            AND EXISTS (SELECT 1 FROM ${s}.subscription_state h WHERE h.id = u.id AND h.lease_until = u.lease)),
        st AS (UPDATE ${s}.subscription_state SET status = 'active', failures = 0, next_at = now(), last_error = NULL,
          lease_until = NULL, last_sent_at = now(),
          delivered_at = CASE WHEN id = ANY(${delivered.map((o) => o.row.id)}::text[]) THEN now() ELSE delivered_at END
          WHERE ${held(done)} AND ${unwritten} RETURNING id),
        rel AS (UPDATE ${s}.subscription_state SET lease_until = NULL
          WHERE ${held(released)} OR (${held(done)} AND NOT ${unwritten})),
        del AS (DELETE FROM ${s}.subscription_state WHERE ${held(gone)})
        SELECT id FROM st`);
      kept = new Set(rows.map((r) => r.id));
    }
    // The server's own status change (requested or error → active) is a new version of the Subscription: rare.
    for (const o of done.filter((x) => x.status !== 'active' && kept.has(x.row.id))) {
      await this.deps.db.transaction((tx) => this.writeStatus(tx, schema, o.row, 'active'));
    }
    for (const o of list.filter((x) => !x.ok)) await this.fail(schema, o.row, o.error!);
    const audits = auditEvents(list.flatMap((o) => o.audits ?? []), this.deps.audit.now());
    if (audits.length > 0) await this.deps.audit.record(schema, audits);
  }

  /** A failed attempt: retried after the backoff; the fifth in a row (or a Subscription no longer honourable) shows `error`. */
  private async fail(schema: string, row: Claimed, error: string, final = false): Promise<void> {
    const s = ident(schema);
    const failures = row.failures + 1;
    const { subscriptionRetryMs, subscriptionRetryMaxMs } = this.deps.config;
    const delay = final ? subscriptionRetryMaxMs : retryDelay(failures, subscriptionRetryMs, subscriptionRetryMaxMs);
    const toError = final || failures >= ERROR_AFTER;
    await this.deps.db.transaction(async (tx) => {
      const held = sql`id = ${row.id} AND lease_until = ${row.lease}::timestamptz`;
      const counted = await tx.query(sql`UPDATE ${s}.subscription_state SET failures = ${failures}, last_error = ${error.slice(0, 500)},
        next_at = now() + ${delay} * interval '1 millisecond', lease_until = NULL
        ${toError && row.status !== 'requested' ? sql`, status = 'error'` : sql``}
        WHERE ${held} AND written = ${row.written} RETURNING id`);
      // A client wrote the Subscription since the claim: its change stands, the lease is released.
      if (counted.length === 0) await tx.query(sql`UPDATE ${s}.subscription_state SET lease_until = NULL WHERE ${held}`);
      else if (toError) await this.writeStatus(tx, schema, row, 'error', error);
    });
  }

  /**
   * The server's own change of Subscription.status (and .error), as a new version of the one the attempt used; skipped
   * when a client changed it meanwhile.
   */
  private async writeStatus(tx: Queryable, schema: string, row: Claimed, status: string, error?: string): Promise<void> {
    const id = row.id;
    const current = await readCurrent(tx, schema, 'Subscription', id);
    if (!current?.resource || current.deleted) return;
    if (row.version !== undefined && String(current.versionId) !== row.version) return;
    const { error: _e, ...rest } = current.resource as Resource & { error?: string };
    if (rest.status === status && (error === undefined || _e === error.slice(0, 500))) return;
    const resource = { ...rest, status, ...(error ? { error: error.slice(0, 500) } : {}) } as Resource;
    try {
      await writeResource(tx, schema, { type: 'Subscription', id, method: 'PUT', resource, ifMatch: current.versionId }, this.deps.statusHooks);
    } catch (e) {
      if (!(e instanceof FhirError && e.status === 412)) throw e; // a client's write came first: its status stands
      return;
    }
    // Every node's list of active subscriptions is read again (outbox.ts), here at once and elsewhere at commit.
    await tx.query(sql`SELECT pg_notify(${AUTH_CHANNEL}, ${schema})`);
    authChanged(schema);
  }
}

/** Starts this node's delivery workers; the returned function stops them (waiting for requests in flight). */
export interface DeliveryOptions {
  pollMs?: number;
  sweepMs?: number;
  remindMs?: number;
  /** Only these tenant schemas (tests sharing one database); every tenant when absent. */
  schemas?: readonly string[];
}

export async function startSubscriptionDelivery(deps: DeliveryDeps, options?: DeliveryOptions): Promise<() => Promise<void>> {
  const worker = new SubscriptionWorker(deps, options);
  await worker.start();
  return () => worker.stop();
}

