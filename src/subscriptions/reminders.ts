/**
 * The appointment-reminder topic (issue #20 §2): time, not a change, triggers it. Every node's delivery loop scans a
 * tenant's reminder subscriptions now and then for booked Appointments (meeting the filter criteria) that start within
 * the subscription's lead time, and enqueues one event per appointment and start — a rescheduled appointment is
 * reminded again; the reminder rows' primary key keeps two nodes scanning at once from enqueuing it twice.
 */
import { ident, sql } from '../db/sql.js';
import { matchResources } from '../storage/match.js';
import { type EventItem, type SubscriptionDeps, enqueue, loadActive } from './outbox.js';
import { REMINDER_TOPIC } from './topics.js';

const DEFAULT_LEAD_MINUTES = 1440;
/** Appointments one scan reminds of per subscription (the next scan takes the rest). */
const SCAN_LIMIT = 200;

/** Enqueues the reminders due in one tenant; the number enqueued. */
export async function enqueueReminders(deps: SubscriptionDeps, schema: string, now = new Date()): Promise<number> {
  const registry = await deps.tenantSearch.registryFor(deps.db, schema);
  const { specs, base } = await loadActive(deps, deps.db, schema, registry);
  let enqueued = 0;
  for (const spec of specs.filter((s) => s.topic?.url === REMINDER_TOPIC)) {
    const until = new Date(now.getTime() + (spec.leadMinutes ?? DEFAULT_LEAD_MINUTES) * 60_000);
    const due = await matchResources(deps.db, schema, 'Appointment', [...spec.params, ['status', 'booked'],
      ['date', `ge${now.toISOString()}`], ['date', `le${until.toISOString()}`]], SCAN_LIMIT, { registry, defs: deps.defs, base });
    const starts = due.flatMap((v) => (typeof v.resource?.start === 'string' ? [{ id: v.id, version: v.versionId, start: v.resource.start }] : []));
    if (starts.length === 0) continue;
    enqueued += await deps.db.transaction(async (tx) => {
      const fresh = await tx.query<{ appointment_id: string }>(sql`INSERT INTO ${ident(schema)}.subscription_reminder (sub_id, appointment_id, start)
        SELECT ${spec.id}, x.id, x.start FROM jsonb_to_recordset(${JSON.stringify(starts)}::jsonb) AS x(id text, start timestamptz)
        ON CONFLICT DO NOTHING RETURNING appointment_id`);
      const ids = new Set(fresh.map((r) => r.appointment_id));
      const at = new Date().toISOString();
      const items: EventItem[] = starts.filter((a) => ids.has(a.id)).map((a) => ({ schema, sub: spec.id, topic: REMINDER_TOPIC,
        type: 'Appointment', id: a.id, version: a.version, action: 'update', at, ord: 0 }));
      if (items.length > 0) await enqueue(tx, items);
      return items.length;
    });
  }
  return enqueued;
}
