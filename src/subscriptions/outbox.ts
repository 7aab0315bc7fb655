/**
 * The outbox (issue #20 §3): a change that meets an active subscription enqueues its event in the change's own
 * transaction, so a crash can neither lose a notification nor announce a rolled-back change. The events travel with
 * the transaction's other deferred writes (db/deferred.ts): a create that a subscription matches still makes one
 * statement and joins the group commit. Event numbers come from a per-subscription counter row taken in that
 * statement, so the events of one subscription are numbered in commit order without gaps.
 *
 * The tenant's active subscriptions are kept per node and forgotten on every node when one is written (NOTIFY
 * hearth_auth, as the consent and grant caches are, auth/grant-cache.ts).
 */
import type { Db, Queryable } from '../db/db.js';
import { type Deferral, deferring, pendingStatement } from '../db/deferred.js';
import { CONTROL_SCHEMA } from '../db/migrate.js';
import { type Sql, ident, raw, sql } from '../db/sql.js';
import type { Config } from '../config.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Resource } from '../fhir/types.js';
import { AUTH_CHANNEL, TenantCache, authChanged } from '../auth/grant-cache.js';
import type { KeptPrincipal } from '../auth/kept-principal.js';
import { indexRowsFor } from '../storage/index-writer.js';
import { matchResources } from '../storage/match.js';
import { readCurrentMany } from '../storage/resources.js';
import type { TenantSearchParameters } from '../storage/search-parameters.js';
import type { Change, WriteHook } from '../storage/write.js';
import type { SearchRegistry } from '../search/registry.js';
import { CandidateIndex, matchInMemory } from './matcher.js';
import { type SubscriptionSpec, subscriptionSpec } from './model.js';
import type { Action } from './topics.js';

export interface SubscriptionDeps {
  config: Config;
  db: Db;
  defs: Definitions;
  tenantSearch: TenantSearchParameters;
}

/** One event waiting to be written. */
export interface EventItem { schema: string; sub: string; topic: string | null; type: string; id: string; version: number; action: Action;
  at: string; ord: number }

const EVENTS: Deferral<EventItem> = {
  name: 'subscription-events',
  steps(items, prefix) {
    const bySchema = new Map<string, EventItem[]>();
    for (const item of items) bySchema.set(item.schema, [...bySchema.get(item.schema) ?? [], item]);
    return [...bySchema.values()].flatMap((list, j) => {
      const p = `${prefix}e${j}_`;
      const s = ident(list[0]!.schema);
      const doc = JSON.stringify(list.map((e, ord) => ({ ...e, ord })));
      return [
        sql`${raw(`${p}doc`)} AS (SELECT * FROM jsonb_to_recordset(${doc}::jsonb)
          AS x(sub text, topic text, type text, id text, version int, action text, at timestamptz, ord int))`,
        sql`${raw(`${p}cnt`)} AS (INSERT INTO ${s}.subscription_counter AS c (id, last)
          SELECT sub, count(*) FROM ${raw(`${p}doc`)} GROUP BY sub
          ON CONFLICT (id) DO UPDATE SET last = c.last + excluded.last RETURNING c.id, c.last)`,
        sql`${raw(`${p}ins`)} AS (INSERT INTO ${s}.subscription_event (sub_id, number, at, topic, res_type, res_id, version, action)
          SELECT d.sub, c.last - count(*) OVER (PARTITION BY d.sub) + row_number() OVER (PARTITION BY d.sub ORDER BY d.ord),
            d.at, d.topic, d.type, d.id, d.version, d.action
          FROM ${raw(`${p}doc`)} d JOIN ${raw(`${p}cnt`)} c ON c.id = d.sub)`,
      ];
    });
  },
};

/** Writes events with the transaction's other writes (deferred when it defers). */
export async function enqueue(tx: Queryable, items: EventItem[]): Promise<void> {
  const d = deferring(tx);
  if (d) {
    for (const item of items) await d.defer(EVENTS, item);
    return;
  }
  await tx.query(pendingStatement(new Map([[EVENTS as Deferral<unknown>, items]]))!);
}

/** A tenant's active subscriptions, by the resource type they are about. */
interface Active { byType: Map<string, CandidateIndex<SubscriptionSpec>>; base: string }

/** The FHIR base of the tenant with this schema, as deliveries and criteria name it. */
export async function tenantBase(config: Config, db: Queryable, schema: string): Promise<{ slug: string; base: string } | undefined> {
  const rows = await db.query<{ slug: string }>(sql`SELECT slug FROM ${ident(CONTROL_SCHEMA)}.tenant WHERE schema_name = ${schema}`);
  if (!rows[0]) return undefined;
  return { slug: rows[0].slug, base: `${config.baseUrl ?? `http://localhost:${config.port}`}/fhir/${rows[0].slug}` };
}

/** The Subscriptions whose events are kept (active, and in error while their endpoint is retried). */
export async function loadActive(deps: SubscriptionDeps, q: Queryable, schema: string, registry: SearchRegistry,
  statuses = ['active', 'error']): Promise<{ specs: SubscriptionSpec[]; base: string }> {
  const tenant = await tenantBase(deps.config, q, schema);
  const base = tenant?.base ?? '';
  const rows = await q.query<{ id: string }>(sql`SELECT id FROM ${ident(schema)}.subscription_state WHERE status = ANY(${statuses}) ORDER BY id`);
  const specs: SubscriptionSpec[] = [];
  for (const current of await readCurrentMany(q, schema, 'Subscription', rows.map((r) => r.id))) {
    if (!current.resource || current.deleted) continue;
    try {
      specs.push(subscriptionSpec({ registry, defs: deps.defs, base }, current.resource, deps.config.subscriptionAllowUrls));
    } catch {
      // Accepted when written; no longer honourable (a custom search parameter removed since): no events.
    }
  }
  return { specs, base };
}

const SUBSCRIPTION_CACHE_MS = 30_000;

export class SubscriptionCache extends TenantCache<Active> {
  constructor(private readonly deps: SubscriptionDeps) {
    super(deps.db, SUBSCRIPTION_CACHE_MS);
  }

  private readonly loading = new Map<string, Promise<Active>>();

  private async load(q: Queryable, schema: string, registry: SearchRegistry): Promise<Active> {
    const { specs, base } = await loadActive(this.deps, q, schema, registry);
    const lists = new Map<string, SubscriptionSpec[]>();
    for (const s of specs) lists.set(s.type, [...lists.get(s.type) ?? [], s]);
    return { byType: new Map([...lists].map(([type, list]) => [type, new CandidateIndex(list)])), base };
  }

  /**
   * On a miss, a write that has sent nothing yet reads the list beside its transaction (PostgreSQL, another
   * connection: the write stays one statement in its group commit), and such writes share one read however many wait
   * for it (a burst of creates after a change would each have read it). A write whose transaction has begun holds a
   * connection and maybe locks: it reads through its own transaction and never waits for another's read (borrowing a
   * second connection, or waiting on a read that needs one, could exhaust the pool while others wait for its locks).
   * PGlite has one session: every write reads through its own transaction.
   */
  private active(tx: Queryable, schema: string, registry: SearchRegistry): Promise<Active> {
    return this.cached(schema, () => {
      const d = deferring(tx);
      if (this.deps.db.kind !== 'postgres' || !d || d.started) return this.load(tx, schema, registry);
      let load = this.loading.get(schema);
      if (!load) {
        // The first waiter's transaction cannot begin while it waits here, so its readOutside stays available.
        const beside: Queryable = { keyring: tx.keyring, exec: (script) => tx.exec(script),
          query: async <T>(q: Sql) => (await d.readOutside<T>(q)) ?? tx.query<T>(q) };
        load = this.load(beside, schema, registry).finally(() => this.loading.delete(schema));
        this.loading.set(schema, load);
      }
      return load;
    }, () => schema);
  }

  /** The write hook: events for matching changes; a written Subscription checked and its server state kept. */
  readonly hook: WriteHook = async (tx, schema, change: Change) => {
    if (change.replay) return;
    if (change.type === 'Subscription') return this.subscriptionWritten(tx, schema, change);
    const registry = await this.deps.tenantSearch.registryFor(tx, schema);
    const active = await this.active(tx, schema, registry);
    const index = active.byType.get(change.type);
    if (!index) return;
    const action: Action = change.resource === undefined ? 'delete' : change.previous === undefined ? 'create' : 'update';
    const content = change.resource ?? change.previous;
    if (!content) return;
    const candidates = index.candidates(indexRowsFor(registry, content));
    const now = Date.now();
    const at = new Date(now).toISOString();
    const items: EventItem[] = [];
    for (const spec of candidates) {
      if (spec.end !== undefined && spec.end <= now) continue;
      if (spec.kind === 'r4' && action === 'delete') continue;
      if (spec.topic && !spec.topic.triggers(action, change.previous, change.resource)) continue;
      if (!(await this.matches(tx, schema, spec, content, registry, active.base, action))) continue;
      items.push({ schema, sub: spec.id, topic: spec.topic?.url ?? null, type: change.type, id: change.id, version: change.version,
        action, at, ord: 0 });
    }
    if (items.length > 0) await enqueue(tx, items);
  };

  private async matches(tx: Queryable, schema: string, spec: SubscriptionSpec, content: Resource, registry: SearchRegistry,
    base: string, action: Action): Promise<boolean> {
    if (spec.conditions.length === 0) return true;
    const verdict = matchInMemory(spec.conditions, { type: spec.type, resource: content, rows: indexRowsFor(registry, content),
      registry, defs: this.deps.defs });
    if (verdict !== 'sql') return verdict;
    // A deleted resource has no rows left to search: only what memory can decide applies to it.
    if (action === 'delete') return false;
    const found = await matchResources(tx, schema, spec.type, [...spec.params, ['_id', content.id!]], 1,
      { registry, defs: this.deps.defs, base });
    return found.length > 0;
  }

  private async subscriptionWritten(tx: Queryable, schema: string, change: Change): Promise<void> {
    const s = ident(schema);
    if (!change.resource) {
      await tx.query(sql`WITH a AS (DELETE FROM ${s}.subscription_event WHERE sub_id = ${change.id}),
        b AS (DELETE FROM ${s}.subscription_counter WHERE id = ${change.id})
        DELETE FROM ${s}.subscription_state WHERE id = ${change.id}`);
    } else {
      const registry = await this.deps.tenantSearch.registryFor(tx, schema);
      const tenant = await tenantBase(this.deps.config, tx, schema);
      const spec = subscriptionSpec({ registry, defs: this.deps.defs, base: tenant?.base ?? '' }, change.resource,
        this.deps.config.subscriptionAllowUrls);
      // The server activates a subscription after its handshake; a client asks for it (again) or turns it off.
      const status = spec.status === 'off' ? 'off' : 'requested';
      const heartbeat = spec.channel.heartbeatS ?? null;
      await tx.query(sql`INSERT INTO ${s}.subscription_state AS st (id, status, heartbeat_s) VALUES (${change.id}, ${status}, ${heartbeat}::int)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status, heartbeat_s = excluded.heartbeat_s, failures = 0, next_at = now(),
          last_error = NULL, written = st.written + 1`);
    }
    await tx.query(sql`SELECT pg_notify(${AUTH_CHANNEL}, ${schema})`);
    authChanged(schema);
  }
}

/** Who created or last changed a Subscription: deliveries never carry more than this principal may read. */
export async function recordOwner(tx: Queryable, schema: string, id: string, owner: KeptPrincipal): Promise<void> {
  await tx.query(sql`UPDATE ${ident(schema)}.subscription_state SET owner = ${JSON.stringify(owner)}::jsonb WHERE id = ${id}`);
}

/**
 * Removes delivered events older than `days` (kept until then for $events), reminders of appointments that started
 * more than a day ago and spent or expired websocket binding tokens.
 */
export async function pruneOutbox(db: Queryable, schema: string, days: number): Promise<void> {
  const s = ident(schema);
  await db.query(sql`WITH a AS (DELETE FROM ${s}.subscription_event WHERE delivered_at < now() - ${days} * interval '1 day'),
    b AS (DELETE FROM ${s}.subscription_reminder WHERE start < now() - interval '1 day')
    DELETE FROM ${s}.subscription_ws_token WHERE expires_at < now()`);
}
