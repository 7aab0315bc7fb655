/**
 * What operators see of a tenant's subscriptions (issue #20 §5, `GET /admin/tenants/<t>/subscriptions`): per
 * subscription its status, queue depth and the age of its oldest waiting event, failures in a row and the last error,
 * and the time from commit to delivery over the last hour (p50, p95).
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';

export interface SubscriptionStats {
  id: string;
  status: string;
  pending: number;
  oldestPendingSeconds: number | null;
  failures: number;
  lastError: string | null;
  deliveredLastHour: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  lastDeliveredAt: string | null;
  events: number;
}

interface Row { id: string; status: string; failures: number; last_error: string | null; delivered_at: Date | null; events: string | null;
  pending: string; oldest: number | null; delivered: string; p50: number | null; p95: number | null }

export async function subscriptionStats(db: Queryable, schema: string): Promise<SubscriptionStats[]> {
  const s = ident(schema);
  const rows = await db.query<Row>(sql`SELECT st.id, st.status, st.failures, st.last_error, st.delivered_at, c.last AS events,
      (SELECT count(*) FROM ${s}.subscription_event e WHERE e.sub_id = st.id AND e.delivered_at IS NULL) AS pending,
      (SELECT extract(epoch FROM now() - min(e.at))::float8 FROM ${s}.subscription_event e WHERE e.sub_id = st.id AND e.delivered_at IS NULL) AS oldest,
      d.delivered, d.p50, d.p95
    FROM ${s}.subscription_state st
    LEFT JOIN ${s}.subscription_counter c ON c.id = st.id
    LEFT JOIN LATERAL (SELECT count(*) AS delivered,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.delivered_at - e.at) * 1000)::float8 AS p50,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM e.delivered_at - e.at) * 1000)::float8 AS p95
      FROM ${s}.subscription_event e WHERE e.sub_id = st.id AND e.delivered_at > now() - interval '1 hour' AND e.withheld IS NULL) d ON true
    ORDER BY st.id`);
  return rows.map((r) => ({ id: r.id, status: r.status, pending: Number(r.pending),
    oldestPendingSeconds: r.oldest === null ? null : Math.round(r.oldest), failures: r.failures, lastError: r.last_error,
    deliveredLastHour: Number(r.delivered), latencyP50Ms: r.p50 === null ? null : Math.round(r.p50),
    latencyP95Ms: r.p95 === null ? null : Math.round(r.p95), lastDeliveredAt: r.delivered_at ? new Date(r.delivered_at).toISOString() : null,
    events: Number(r.events ?? 0) }));
}
