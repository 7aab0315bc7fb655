/**
 * The outbox read back: a subscription's events (pending ones for delivery, any range for `$events`), each with what
 * the reader may see of it — the resource's version when the payload carries it, nothing when the reader (the
 * creator at delivery, the caller of `$events`) may not read it now.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { Definitions } from '../fhir/definitions.js';
import type { Access } from '../auth/access.js';
import type { SearchRegistry } from '../search/registry.js';
import { readCurrentIf, readVersion } from '../storage/resources.js';
import type { OutboxEvent } from './notify.js';

interface EventRow { number: string; at: Date; res_type: string; res_id: string; version: number; action: OutboxEvent['action'] }

export interface EventRange { pendingOnly?: boolean; since?: number; until?: number; limit: number }

export async function loadEvents(db: Queryable, schema: string, id: string, range: EventRange): Promise<OutboxEvent[]> {
  const rows = await db.query<EventRow>(sql`SELECT number, at, res_type, res_id, version, action FROM ${ident(schema)}.subscription_event
    WHERE sub_id = ${id}${range.pendingOnly ? sql` AND delivered_at IS NULL` : sql``}
      ${range.since !== undefined ? sql` AND number >= ${range.since}` : sql``}${range.until !== undefined ? sql` AND number <= ${range.until}` : sql``}
    ORDER BY number LIMIT ${range.limit}`);
  return rows.map((r) => ({ number: Number(r.number), at: new Date(r.at), type: r.res_type, id: r.res_id, version: r.version, action: r.action }));
}

/** The number of events a subscription has had (events-since-subscription-start). */
export async function eventCount(db: Queryable, schema: string, id: string): Promise<number> {
  const rows = await db.query<{ last: string }>(sql`SELECT last FROM ${ident(schema)}.subscription_counter WHERE id = ${id}`);
  return Number(rows[0]?.last ?? 0);
}

export interface Reader { db: Queryable; schema: string; registry: SearchRegistry; defs: Definitions;
  /** The reader's access; undefined: the server itself (no narrowing). */
  access?: Access;
  /** Whether the events should carry their resources. */
  withContent: boolean }

/**
 * The events the reader may read now, with their resources when asked (a version no longer stored — erased — is
 * withheld rather than sent without it); the rest withheld.
 */
export async function readableEvents(r: Reader, events: OutboxEvent[]): Promise<{ allowed: OutboxEvent[]; withheld: OutboxEvent[] }> {
  const allowed: OutboxEvent[] = [];
  const withheld: OutboxEvent[] = [];
  for (const e of events) {
    const narrowing = r.access ? r.access.narrowing(e.type, 'r') : null;
    let ok = narrowing === null;
    if (narrowing && e.action !== 'delete') {
      ok = (await readCurrentIf(r.db, { schema: r.schema, registry: r.registry, defs: r.defs, access: r.access!.searchRule }, e.type, e.id,
        narrowing)).visible;
    }
    if (ok && r.withContent && e.action !== 'delete') {
      const v = await readVersion(r.db, r.schema, e.type, e.id, e.version);
      if (v?.resource) allowed.push({ ...e, resource: v.resource });
      else withheld.push(e);
    } else if (ok) allowed.push(e);
    else withheld.push(e);
  }
  return { allowed, withheld };
}
