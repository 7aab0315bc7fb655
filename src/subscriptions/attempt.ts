/** What one delivery attempt works with (worker.ts): the claimed row, what is read for it, its plan and its outcome. */
import type { Access } from '../auth/access.js';
import type { KeptPrincipal } from '../auth/kept-principal.js';
import type { Resource } from '../fhir/types.js';
import type { SearchRegistry } from '../search/registry.js';
import type { Delivery } from './delivery-audit.js';
import type { SubscriptionSpec } from './model.js';
import type { OutboxEvent, Request } from './notify.js';
import type { Publication } from './websocket.js';

/**
 * A claimed subscription's state row. `lease` (lease_until as text, to the microsecond) is this attempt's: what the
 * worker writes back applies only while the row holds it. `written` counts the clients' writes of the Subscription:
 * when one came after the claim, the attempt only releases its lease (migrations/tenant/027). `version` is the
 * Subscription's version the attempt used: the server's own status change applies to it only.
 */
export interface Claimed { id: string; owner: KeptPrincipal | null; status: string; failures: number; last_sent_at: Date | null;
  heartbeat_s: number | null; lease: string; written: number; version?: string }

/** What prefetch reads for a claimed subscription: its Subscription, event counter and pending events. */
export interface ClaimedRead { id: string; content: Resource | null; deleted: boolean | null; last_event: string;
  events: { number: number; at: string; res_type: string; res_id: string; version: number; action: OutboxEvent['action'] }[] | null }

/** The delay before retry n (1, 2, …): base·2^(n−1), capped, with ±25% jitter so that failed endpoints are not hit in step. */
export function retryDelay(failures: number, baseMs: number, maxMs: number): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(d * (0.75 + Math.random() * 0.5));
}

/** What one claimed subscription does this round, worked out from its batch's rows. */
export type Plan =
  | { kind: 'idle' }
  | { kind: 'activate' }
  | { kind: 'send'; req: Request; events: OutboxEvent[]; last?: number; label: string }
  /** R4 events, one request each, sent in order while they succeed. */
  | { kind: 'send-each'; sends: { req: Request; event: OutboxEvent }[]; last: number }
  | { kind: 'publish'; publication: Publication; events: OutboxEvent[]; last?: number; label: string };

/** A finished attempt, waiting to be written down with the others of its moment (flush). */
export interface Outcome { schema: string; row: Claimed; spec?: SubscriptionSpec; status?: string; ok: boolean; last?: number; error?: string;
  audits?: Delivery[]; release?: boolean; gone?: boolean }

/** The rows a batch of claimed subscriptions of one tenant needs, read together. */
export interface Prefetched { base: string; registry: SearchRegistry; subscriptions: Map<string, Resource>;
  specs: Map<string, SubscriptionSpec | Error>; counts: Map<string, number>; pending: Map<string, OutboxEvent[]>;
  accesses: Map<string, Promise<Access | null>>; stored: ReadonlyMap<string, Resource> }

/** R4 rest-hook events one claim sends (a request each, in order): a backlog drains without a claim per event. */
const R4_PER_CLAIM = 20;

/** Events one claim takes: a topic-based notification (or a socket's) up to max-count, R4 rest-hook ones a request each. */
export const perNotification = (spec: SubscriptionSpec): number =>
  (spec.kind === 'topic' || spec.channel.type === 'websocket' ? spec.channel.maxCount : R4_PER_CLAIM);

/** Parsed Subscriptions kept by the worker (by tenant and id; used while version, search parameters and base hold). */
export const PARSED_MAX = 10_000;

/** Pause between claim rounds: events committed meanwhile are claimed together (larger batches, fewer statements a notification). */
export const CLAIM_GAP_MS = 50;

/** Subscriptions one claim takes at most. */
export const CLAIM_MAX = 64;
/** How long finished attempts wait to be written down together. */
export const FLUSH_MS = 10;
