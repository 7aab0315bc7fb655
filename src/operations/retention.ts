/**
 * Data retention (issue #17 §4; README "Retention"): each tenant's rules (storage/retention.ts) applied once a day by
 * the scheduler, per tenant in one transaction under an advisory lock so that one node runs it at a time, each rule
 * that removed something audited in the tenant's trail; the admin API reports what a run would take (dry run) or runs
 * it now.
 */
import { schedule } from 'node-cron';
import { hearthSubtype } from '../audit/event.js';
import { systemEvent } from '../audit/system-event.js';
import { sql } from '../db/sql.js';
import type { Deps } from '../interactions/context.js';
import { skipOverlapping } from '../jobs/overlap.js';
import { type RuleOutcome, applyRule, listRetentionRules } from '../storage/retention.js';
import { type Tenant, findTenant, listReadyTenants } from '../storage/tenants.js';

/** A run over one tenant: each rule's outcome; undefined when another node holds the tenant's retention lock. */
export async function runRetention(deps: Deps, tenant: Tenant, now: Date, remove: boolean): Promise<RuleOutcome[] | undefined> {
  const registry = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
  const outcomes = await deps.db.transaction(async (tx) => {
    if (remove) {
      const [{ ok } = { ok: false }] = await tx.query<{ ok: boolean }>(
        sql`SELECT pg_try_advisory_xact_lock(hashtext(${`hearth.retention.${tenant.schema}`})) AS ok`);
      if (!ok) return undefined;
    }
    const out: RuleOutcome[] = [];
    for (const rule of await listRetentionRules(tx, tenant.schema)) out.push(await applyRule(tx, registry, tenant.schema, rule, now, remove));
    return out;
  }, { retries: 0 });
  if (remove) {
    for (const o of outcomes?.filter((x) => x.resources > 0) ?? []) {
      await deps.audit.record(tenant.schema, [systemEvent(deps, tenant, hearthSubtype('retention'),
        `Retention rule ${o.rule} (${o.kind}, before ${o.cutoff}) removed ${o.resources} resource(s), ${o.versions} version(s)`)]);
    }
  }
  return outcomes;
}

/** Every active tenant's rules, now (suspended tenants wait, as their jobs do). */
export async function retainData(deps: Deps, now = deps.audit.now()): Promise<number> {
  let removed = 0;
  for (const listed of await listReadyTenants(deps.db)) {
    const tenant = await findTenant(deps.db, listed.slug);
    if (!tenant || tenant.suspendedAt) continue;
    for (const o of await runRetention(deps, tenant, now, true) ?? []) removed += o.resources;
  }
  return removed;
}

/** Starts the daily run on this node (hearth serve); the answer stops it. */
export function startRetentionSchedule(deps: Deps, onError: (e: unknown) => void = () => undefined): () => Promise<void> {
  const run = skipOverlapping('data-retention', () => retainData(deps).then(() => undefined, onError), deps.metrics);
  const task = schedule('41 3 * * *', run, { name: 'hearth-data-retention' });
  return async () => { await task.stop(); await task.destroy(); };
}
