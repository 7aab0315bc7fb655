/**
 * Data retention rules (issue #17 §4; README "Retention"; migrations/tenant/019_retention.sql): a tenant's rules, and
 * what each one takes at a given instant — resources deleted long ago, resources of a type unchanged for long, the
 * records of patients without an Encounter for long — worked out as a report (dry run) or removed for good.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { badRequest } from '../errors.js';
import type { SearchRegistry } from '../search/registry.js';
import { eraseResources, planErasure } from './erase.js';

export const RETENTION_KINDS = ['deleted-history', 'resource-age', 'patient-inactivity'] as const;
export type RetentionKind = typeof RETENTION_KINDS[number];

export interface RetentionRule { name: string; kind: RetentionKind; resourceType: string | null; days: number }

/** What one rule takes (or took): resources and stored versions, with the first references as examples. */
export interface RuleOutcome { rule: string; kind: RetentionKind; cutoff: string; resources: number; versions: number; examples: string[] }

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const EXAMPLES = 20;

interface RuleRow { name: string; kind: RetentionKind; resource_type: string | null; days: number }
const fromRow = (r: RuleRow): RetentionRule => ({ name: r.name, kind: r.kind, resourceType: r.resource_type, days: r.days });

export async function listRetentionRules(db: Queryable, schema: string): Promise<RetentionRule[]> {
  return (await db.query<RuleRow>(sql`SELECT name, kind, resource_type, days FROM ${ident(schema)}.retention_rule ORDER BY name`)).map(fromRow);
}

/** Checks a rule as given to the admin API ({kind, resourceType?, days}); 400 naming the field otherwise. */
export function checkRule(name: string, body: unknown, isType: (t: string) => boolean): RetentionRule {
  if (!NAME.test(name)) throw badRequest('A rule name is 1–63 lower-case letters, digits and hyphens', ['name']);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The rule must be a JSON object {"kind", "resourceType"?, "days"}');
  const { kind, resourceType, days, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw badRequest(`Unknown rule field(s): ${Object.keys(rest).join(', ')} (known: kind, resourceType, days)`);
  if (!RETENTION_KINDS.includes(kind as RetentionKind)) throw badRequest(`kind must be one of ${RETENTION_KINDS.join(', ')}`, ['kind']);
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 36_500) {
    throw badRequest('days must be a whole number from 1 to 36500', ['days']);
  }
  const type = resourceType ?? null;
  if (type !== null && (typeof type !== 'string' || !isType(type) || type === 'AuditEvent')) {
    throw badRequest('resourceType must be a resource type (AuditEvents have their own retention)', ['resourceType']);
  }
  if (kind === 'resource-age' && type === null) throw badRequest('a resource-age rule names its resourceType', ['resourceType']);
  if (kind === 'patient-inactivity' && type !== null) throw badRequest('a patient-inactivity rule takes no resourceType', ['resourceType']);
  return { name, kind: kind as RetentionKind, resourceType: type as string | null, days };
}

export async function putRetentionRule(db: Queryable, schema: string, rule: RetentionRule): Promise<RetentionRule> {
  const [row] = await db.query<RuleRow>(sql`INSERT INTO ${ident(schema)}.retention_rule (name, kind, resource_type, days)
    VALUES (${rule.name}, ${rule.kind}, ${rule.resourceType}, ${rule.days})
    ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, resource_type = excluded.resource_type, days = excluded.days, updated_at = now()
    RETURNING name, kind, resource_type, days`);
  return fromRow(row!);
}

export async function deleteRetentionRule(db: Queryable, schema: string, name: string): Promise<boolean> {
  return (await db.query(sql`DELETE FROM ${ident(schema)}.retention_rule WHERE name = ${name} RETURNING name`)).length > 0;
}

const cutoffOf = (rule: RetentionRule, now: Date) => new Date(now.getTime() - rule.days * 86_400_000);

/** The resources a deleted-history or resource-age rule takes now, with their version counts. */
async function agedResources(db: Queryable, schema: string, rule: RetentionRule, cutoff: Date) {
  const s = ident(schema);
  const type = rule.resourceType === null ? sql`` : sql`AND r.type = ${rule.resourceType}`;
  const which = rule.kind === 'deleted-history' ? sql`r.deleted` : sql`true`;
  return db.query<{ type: string; id: string; versions: number }>(sql`SELECT r.type, r.id,
      (SELECT count(*)::int FROM ${s}.resource_version v WHERE v.rid = r.rid) AS versions
    FROM ${s}.resource r WHERE ${which} AND r.type <> 'AuditEvent' ${type} AND r.last_updated < ${cutoff}
      AND EXISTS (SELECT 1 FROM ${s}.resource_version v WHERE v.rid = r.rid)
    ORDER BY r.type, r.id`);
}

/**
 * The live patients without an Encounter since cutoff: their latest Encounter's end (its `date` period), or for a
 * patient who never had one, the Patient's own last change. An Encounter still open never ends; one without a date
 * counts by its last change.
 */
async function inactivePatients(db: Queryable, schema: string, cutoff: Date): Promise<string[]> {
  const s = ident(schema);
  return (await db.query<{ id: string }>(sql`SELECT p.id FROM ${s}.resource p
    WHERE p.type = 'Patient' AND NOT p.deleted AND coalesce((SELECT max(coalesce(d.hi, er.last_updated))
      FROM ${s}.idx_reference e JOIN ${s}.resource er ON er.rid = e.rid AND NOT er.deleted
      LEFT JOIN ${s}.idx_date d ON d.rid = e.rid AND d.param = 'date'
      WHERE e.type = 'Encounter' AND e.param IN ('subject', 'patient') AND e.ref_type = 'Patient' AND e.ref_id = p.id), p.last_updated) < ${cutoff}
    ORDER BY p.id`)).map((r) => r.id);
}

/**
 * What a rule takes at `now`; with `remove`, removes it for good in the caller's transaction (a run that fails removes
 * nothing; the next takes it all).
 */
export async function applyRule(tx: Queryable, registry: SearchRegistry, schema: string, rule: RetentionRule, now: Date,
  remove: boolean): Promise<RuleOutcome> {
  const cutoff = cutoffOf(rule, now);
  const out: RuleOutcome = { rule: rule.name, kind: rule.kind, cutoff: cutoff.toISOString(), resources: 0, versions: 0, examples: [] };
  const take = async (keys: { type: string; id: string; versions: number }[], tombstones: boolean) => {
    out.resources += keys.length;
    out.versions += keys.reduce((n, k) => n + k.versions, 0);
    out.examples.push(...keys.slice(0, EXAMPLES - out.examples.length).map((k) => `${k.type}/${k.id}`));
    if (!remove || keys.length === 0) return;
    await eraseResources(tx, schema, keys);
    if (!tombstones) {
      await tx.query(sql`DELETE FROM ${ident(schema)}.resource r USING unnest(${keys.map((k) => k.type)}::text[],
        ${keys.map((k) => k.id)}::text[]) AS k(type, id) WHERE r.type = k.type AND r.id = k.id`);
    }
  };
  if (rule.kind === 'patient-inactivity') {
    for (const patient of await inactivePatients(tx, schema, cutoff)) {
      // Erased as Patient/$erase erases: shared resources stay, tombstones answer 410.
      await take((await planErasure(tx, registry, schema, patient)).erase, true);
    }
  } else {
    await take(await agedResources(tx, schema, rule, cutoff), false);
  }
  return out;
}
