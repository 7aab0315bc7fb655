/**
 * Notifications as their Subscription's creator may read them (issue #20 §3): an event goes out only while the
 * creator's grant is live and its resource readable under the creator's scopes, roles and the patients' Consents; the
 * rest is withheld. Used by the delivery worker and by the sockets of topic-based subscriptions (websocket.ts).
 */
import { ident, sql } from '../db/sql.js';
import { Access } from '../auth/access.js';
import { withRelationships } from '../auth/bearer.js';
import type { ConsentCache } from '../auth/consent-cache.js';
import { grantActive } from '../auth/grants.js';
import { type KeptPrincipal, revivePrincipal } from '../auth/kept-principal.js';
import type { Resource } from '../fhir/types.js';
import type { SearchRegistry } from '../search/registry.js';
import { readCurrent } from '../storage/resources.js';
import { eventCount, loadEvents, readableEvents } from './events.js';
import { type SubscriptionSpec, subscriptionSpec } from './model.js';
import { type OutboxEvent, notificationBundle } from './notify.js';
import { type SubscriptionDeps, tenantBase } from './outbox.js';
import type { Publication } from './websocket.js';

/** What rendering a notification as its creator may read it needs. */
export interface RenderDeps extends SubscriptionDeps {
  auth: { consents?: ConsentCache };
}

/** Whether the Subscription's notifications carry the resources (full-resource content; an R4 payload). */
export const carriesContent = (spec: SubscriptionSpec): boolean =>
  (spec.kind === 'topic' ? spec.channel.content === 'full-resource' : spec.channel.mime !== undefined);

/** The events the creator may read now (its grant live, under its scopes, roles and the patients' Consents); the rest withheld. */
export async function ownerReadable(deps: RenderDeps, schema: string, base: string, registry: SearchRegistry, owner: KeptPrincipal | null,
  spec: SubscriptionSpec, events: OutboxEvent[], batch: { accesses?: Map<string, Promise<Access | null>>; stored?: ReadonlyMap<string, Resource> } = {}):
  Promise<{ allowed: OutboxEvent[]; withheld: OutboxEvent[] }> {
  const { db, defs } = deps;
  const accesses = batch.accesses ?? new Map<string, Promise<Access | null>>();
  const reader = { db, schema, registry, defs, withContent: carriesContent(spec), ...(batch.stored ? { stored: batch.stored } : {}) };
  if (!owner) return readableEvents(reader, events);
  // The creator's access, worked out once per batch for every subscription it created (accesses).
  const key = JSON.stringify(owner);
  let access = accesses.get(key);
  if (!access) {
    accesses.set(key, access = (async () => {
      if (!owner.grantId || !(await grantActive(db, schema, owner.grantId))) return null;
      const principal = await withRelationships(db, schema, revivePrincipal(defs, owner));
      const consent = await deps.auth.consents?.viewFor(db, schema, principal, new Date());
      return new Access(principal, schema, registry, defs, base, consent);
    })());
  }
  const resolved = await access;
  if (!resolved) return { allowed: [], withheld: events };
  return readableEvents({ ...reader, access: resolved }, events);
}

/** A live Subscription with its spec, its creator and its tenant's base; undefined when gone or no longer honourable. */
async function subscriptionAt(deps: SubscriptionDeps, schema: string, id: string): Promise<{ spec: SubscriptionSpec; status: string;
  owner: KeptPrincipal | null; base: string; registry: SearchRegistry } | undefined> {
  const tenant = await tenantBase(deps.config, deps.db, schema);
  const current = await readCurrent(deps.db, schema, 'Subscription', id);
  if (!tenant || !current?.resource || current.deleted) return undefined;
  const registry = await deps.tenantSearch.registryFor(deps.db, schema);
  const rows = await deps.db.query<{ owner: KeptPrincipal | null }>(sql`SELECT owner FROM ${ident(schema)}.subscription_state WHERE id = ${id}`);
  try {
    const spec = subscriptionSpec({ registry, defs: deps.defs, base: tenant.base }, current.resource, deps.config.subscriptionAllowUrls);
    return { spec, status: String(current.resource.status), owner: rows[0]?.owner ?? null, base: tenant.base, registry };
  } catch {
    return undefined;
  }
}

/** What a topic-based subscription's sockets receive for a publication of the delivery worker (websocket.ts). */
export async function renderPublication(deps: RenderDeps, p: Publication): Promise<string | undefined> {
  const sub = await subscriptionAt(deps, p.schema, p.id);
  if (!sub) return undefined;
  const since = await eventCount(deps.db, p.schema, p.id);
  if (p.kind === 'heartbeat') return JSON.stringify(notificationBundle(sub.base, sub.spec, sub.status, 'heartbeat', since, []));
  const events = await loadEvents(deps.db, p.schema, p.id, { since: p.first ?? 0, until: p.last ?? 0, limit: 1000 });
  const { allowed } = await ownerReadable(deps, p.schema, sub.base, sub.registry, sub.owner, sub.spec, events);
  if (allowed.length === 0) return undefined;
  return JSON.stringify(notificationBundle(sub.base, sub.spec, sub.status, 'event-notification', since, allowed));
}

/** The handshake a socket receives when it binds to a topic-based subscription. */
export async function handshakeText(deps: SubscriptionDeps, schema: string, id: string): Promise<string | undefined> {
  const sub = await subscriptionAt(deps, schema, id);
  if (!sub) return undefined;
  return JSON.stringify(notificationBundle(sub.base, sub.spec, sub.status, 'handshake', await eventCount(deps.db, schema, id), []));
}
