/**
 * The outbox read back: a subscription's events (any range, for `$events` and the sockets; the delivery worker reads
 * pending ones with its claim), each with what the reader may see of it — the resource's version when the payload
 * carries it, nothing when the reader (the creator at delivery, the caller of `$events`) may not read it now.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Resource } from '../fhir/types.js';
import type { Access } from '../auth/access.js';
import type { SearchRegistry } from '../search/registry.js';
import { readCurrentIf, readVersions } from '../storage/resources.js';
import type { OutboxEvent } from './notify.js';

interface EventRow { number: string; at: Date; res_type: string; res_id: string; version: number; action: OutboxEvent['action'] }

export interface EventRange { since?: number; until?: number; limit: number }

const toEvent = (r: EventRow): OutboxEvent =>
  ({ number: Number(r.number), at: new Date(r.at), type: r.res_type, id: r.res_id, version: r.version, action: r.action });

export async function loadEvents(db: Queryable, schema: string, id: string, range: EventRange): Promise<OutboxEvent[]> {
  const rows = await db.query<EventRow>(sql`SELECT number, at, res_type, res_id, version, action FROM ${ident(schema)}.subscription_event
    WHERE sub_id = ${id}${range.since !== undefined ? sql` AND number >= ${range.since}` : sql``}${range.until !== undefined ? sql` AND number <= ${range.until}` : sql``}
    ORDER BY number LIMIT ${range.limit}`);
  return rows.map(toEvent);
}

/** The number of events a subscription has had (events-since-subscription-start). */
export async function eventCount(db: Queryable, schema: string, id: string): Promise<number> {
  return (await eventCounts(db, schema, [id])).get(id) ?? 0;
}

export interface Reader { db: Queryable; schema: string; registry: SearchRegistry; defs: Definitions;
  /** The reader's access; undefined: the server itself (no narrowing). */
  access?: Access;
  /** Whether the events should carry their resources. */
  withContent: boolean;
  /** The versions already read (`type/id/version` → resource) by a caller serving several readers: not read again. */
  stored?: ReadonlyMap<string, Resource> }

/** The key of an event's resource version in Reader.stored. */
export const versionKey = (e: { type: string; id: string; version: number }): string => `${e.type}/${e.id}/${e.version}`;

/** The versions the events carry (deletions carry none), in one statement. */
export async function storedVersions(db: Queryable, schema: string, events: readonly OutboxEvent[]): Promise<Map<string, Resource>> {
  const wanted = events.filter((e) => e.action !== 'delete');
  return new Map((await readVersions(db, schema, wanted.map((e) => ({ type: e.type, id: e.id, version: e.version }))))
    .flatMap((v) => (v.resource ? [[versionKey({ type: v.type, id: v.id, version: v.versionId }), v.resource] as const] : [])));
}

/**
 * The events the reader may read now, with their resources when asked (read in one statement; a version no longer
 * stored — erased — is withheld rather than sent without it); the rest withheld.
 */
export async function readableEvents(r: Reader, events: OutboxEvent[]): Promise<{ allowed: OutboxEvent[]; withheld: OutboxEvent[] }> {
  const seen: OutboxEvent[] = [];
  const withheld: OutboxEvent[] = [];
  for (const e of events) {
    const narrowing = r.access ? r.access.narrowing(e.type, 'r') : null;
    let ok = narrowing === null;
    if (narrowing && e.action !== 'delete') {
      ok = (await readCurrentIf(r.db, { schema: r.schema, registry: r.registry, defs: r.defs, access: r.access!.searchRule }, e.type, e.id,
        narrowing)).visible;
    }
    (ok ? seen : withheld).push(e);
  }
  if (!r.withContent) return { allowed: seen, withheld };
  const stored = r.stored ?? await storedVersions(r.db, r.schema, seen);
  const allowed: OutboxEvent[] = [];
  for (const e of seen) {
    if (e.action === 'delete') { allowed.push(e); continue; }
    const resource = stored.get(versionKey(e));
    if (resource) allowed.push({ ...e, resource });
    else withheld.push(e);
  }
  return { allowed, withheld };
}

/** events-since-subscription-start of several subscriptions. */
export async function eventCounts(db: Queryable, schema: string, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await db.query<{ id: string; last: string }>(sql`SELECT id, last FROM ${ident(schema)}.subscription_counter
    WHERE id = ANY(${[...ids]}::text[])`);
  return new Map(rows.map((r) => [r.id, Number(r.last)]));
}
