/**
 * The audit trail's scheduled work (issue #6 §5, §7; ARCHITECTURE §8): sealing every HEARTH_AUDIT_SEAL_INTERVAL
 * seconds, next month's partitions ahead of time, and retention once a day — each under an advisory lock so that one
 * node does it at a time (PGlite is one process, where the lock is moot).
 */
import { schedule } from 'node-cron';
import type { Db } from '../db/db.js';
import { sql } from '../db/sql.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { AuditLog } from './log.js';
import { type DebugLog, skipOverlapping } from '../jobs/overlap.js';
import { type Tenant, findTenant, listReadyTenants } from '../storage/tenants.js';
import { type SealResult, sealOnce } from './chain.js';
import { hearthSubtype } from './event.js';
import { type Archived, applyRetention } from './retention.js';
import { ensurePartitions, monthStart } from '../db/partitions.js';
import { systemEvent } from './system-event.js';

/** Seals one tenant's finished events; undefined when another node holds its lock or nothing was new. */
export function sealTenant(db: Db, tenant: Tenant, secret: string | undefined): Promise<SealResult | undefined> {
  return db.transaction(async (tx) => {
    const [{ ok } = { ok: false }] = await tx.query<{ ok: boolean }>(
      sql`SELECT pg_try_advisory_xact_lock(hashtext(${`hearth.audit.seal.${tenant.schema}`})) AS ok`);
    return ok ? sealOnce(tx, tenant.schema, secret) : undefined;
  }, { retries: 0 });
}

/** What the audit schedules need of the server. */
export interface ScheduleDeps {
  config: Config;
  db: Db;
  audit: AuditLog;
  metrics: Metrics;
}

/** fn for the tenant, unless the tenant was deleted meanwhile (its schema gone): then undefined, not an error. */
async function ifStillThere<T>(deps: ScheduleDeps, tenant: Tenant, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (!(await findTenant(deps.db, tenant.slug))) return undefined;
    throw e;
  }
}

export async function sealAll(deps: ScheduleDeps): Promise<number> {
  let sealed = 0;
  for (const tenant of await listReadyTenants(deps.db)) {
    if ((await ifStillThere(deps, tenant, () => sealTenant(deps.db, tenant, deps.config.auditSealSecret))) !== undefined) sealed++;
  }
  return sealed;
}

/** Archives expired partitions of every tenant and records each purge in that tenant's trail. */
export async function retainAll(deps: ScheduleDeps, now = deps.audit.now()): Promise<Archived[]> {
  const all: Archived[] = [];
  for (const tenant of await listReadyTenants(deps.db)) {
    const archived = await ifStillThere(deps, tenant, () => applyRetention(deps.db, tenant, deps.config.auditArchiveDir, now)) ?? [];
    for (const a of archived.filter((x) => x.events > 0)) {
      await deps.audit.record(tenant.schema, [systemEvent(deps, tenant, hearthSubtype('audit-archive'),
        `Archived ${a.events} AuditEvent(s) of ${a.partition} to NDJSON and dropped the partition (retention)`)]);
    }
    all.push(...archived);
  }
  return all;
}

let monthEnsured = '';

async function ensureAll(deps: ScheduleDeps, now: Date): Promise<void> {
  const month = monthStart(now).toISOString();
  if (month === monthEnsured) return;
  for (const tenant of await listReadyTenants(deps.db)) await ifStillThere(deps, tenant, () => ensurePartitions(deps.db, tenant.schema, now));
  monthEnsured = month;
}

/**
 * Starts the schedules on this node (hearth serve); the answer stops them. A run that finds the previous one still going
 * is skipped quietly and counted (jobs/overlap.ts); the jobs see only tenants whose schema is complete.
 */
export function startAuditSchedules(deps: ScheduleDeps, onError: (e: unknown) => void = () => undefined, log?: DebugLog): () => Promise<void> {
  const every = deps.config.auditSealIntervalS;
  const seconds = every < 60 ? `*/${every} * * * * *` : `0 */${Math.max(1, Math.round(every / 60))} * * * *`;
  const sealRun = skipOverlapping('audit-seal', () => ensureAll(deps, deps.audit.now()).then(() => sealAll(deps))
    .then(() => undefined, onError), deps.metrics, log);
  const retainRun = skipOverlapping('audit-retention', () => retainAll(deps).then(() => undefined, onError), deps.metrics, log);
  const seal = schedule(seconds, sealRun, { name: 'hearth-audit-seal' });
  const retain = schedule('17 3 * * *', retainRun, { name: 'hearth-audit-retention' });
  return async () => {
    for (const task of [seal, retain]) { await task.stop(); await task.destroy(); }
  };
}
