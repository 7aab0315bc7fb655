/**
 * Removing data for good (issue #17 §3; README "Erasure"): what a patient's erasure takes — every stored version of
 * every resource that is, or ever was, in that patient's compartment and in no other patient's — and the statements
 * that remove a resource's versions, index rows and derived rows, leaving a tombstone (the current row, deleted and
 * empty) so that a read of an erased id answers 410. `$expunge` uses the same primitives for one resource's history.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import type { Resource } from '../fhir/types.js';
import { patientCompartment } from '../search/compartment.js';
import { patientsOf } from '../search/compartment-patients.js';
import { INDEX_TABLES } from '../search/extract-types.js';
import type { SearchRegistry } from '../search/registry.js';
import { withoutReferenceChecks } from './links.js';

/** FHIR ids (http://hl7.org/fhir/R4/datatypes.html#id): nothing a LIKE pattern treats specially. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export interface ErasureItem { type: string; id: string; versions: number }
export interface SharedItem { type: string; id: string; patients: string[] }

/** What erasing a patient takes, and what stays because it is in other patients' compartments too. */
export interface ErasurePlan { erase: ErasureItem[]; shared: SharedItem[] }

interface VersionRow { type: string; id: string; version: number; content: Resource | null }

/**
 * Works out a patient's erasure. Candidates are the versions whose stored JSON names `Patient/<id>` (one scan of the
 * version table, in the database); each is then checked by the compartment's own parameters, version by version, so
 * that a deleted or since-changed resource counts by what it held. Another Patient is never erased (a link is not
 * their record); a resource that is, or was, in another patient's compartment too is kept and reported as shared.
 */
export async function planErasure(db: Queryable, registry: SearchRegistry, schema: string, patient: string): Promise<ErasurePlan> {
  if (!FHIR_ID.test(patient)) throw new Error(`not a FHIR id: ${JSON.stringify(patient)}`);
  const s = ident(schema);
  const types = [...patientCompartment().keys()].filter((t) => t !== 'Patient');
  const keys = await db.query<{ type: string; id: string }>(sql`SELECT DISTINCT type, id FROM ${s}.resource_version
    WHERE content IS NOT NULL AND ((type = 'Patient' AND id = ${patient})
      OR (type = ANY(${types}::text[]) AND (content::text LIKE ${`%Patient/${patient}"%`} OR content::text LIKE ${`%Patient/${patient}/_history/%`})))`);
  const seen = new Set(keys.map((k) => `${k.type}/${k.id}`));
  for (const k of await sealedCandidates(db, schema, types, patient)) {
    if (!seen.has(`${k.type}/${k.id}`)) keys.push(k);
  }
  if (keys.length === 0) return { erase: [], shared: [] };
  // Every version of each candidate, delete markers included: a resource once the patient's and now another's is both.
  const rows = await db.query<VersionRow>(sql`SELECT v.type, v.id, v.version, ${sealedColumns(schema, 'v')} FROM ${s}.resource_version v
    JOIN unnest(${keys.map((k) => k.type)}::text[], ${keys.map((k) => k.id)}::text[]) AS k(type, id) ON v.type = k.type AND v.id = k.id
    ORDER BY v.type, v.id, v.version`);
  const byResource = new Map<string, { type: string; id: string; versions: number; patients: Set<string> }>();
  for (const r of rows) {
    const key = `${r.type}/${r.id}`;
    const entry = byResource.get(key) ?? { type: r.type, id: r.id, versions: 0, patients: new Set<string>() };
    entry.versions++;
    for (const p of patientsOf(registry, r.content ?? undefined)) entry.patients.add(p.slice('Patient/'.length));
    byResource.set(key, entry);
  }
  const members = [...byResource.values()].filter((e) => e.patients.has(patient));
  const erase: ErasureItem[] = [];
  const shared: SharedItem[] = [];
  for (const m of members) {
    if (m.patients.size === 1) erase.push({ type: m.type, id: m.id, versions: m.versions });
    else shared.push({ type: m.type, id: m.id, patients: [...m.patients].filter((p) => p !== patient).sort() });
  }
  // The Patient last: a job that stops half-way is resumed by planning again, and the patient still anchors nothing.
  erase.sort((a, b) => Number(a.type === 'Patient') - Number(b.type === 'Patient') || a.type.localeCompare(b.type) || a.id.localeCompare(b.id));
  return { erase, shared };
}

/** Versions of encrypted bodies opened per statement while looking for a patient's (bounded memory). */
const SEALED_BATCH = 2000;

/**
 * The same candidates among encrypted versions (db/vault.ts), which the database cannot look into: every encrypted
 * version of the compartment's types is opened, a batch at a time, and tested for the same text. Costs a pass over
 * the tenant's history; erasure is rare, and what it must find includes versions no index row describes any more.
 */
async function sealedCandidates(db: Queryable, schema: string, types: string[], patient: string): Promise<{ type: string; id: string }[]> {
  const s = ident(schema);
  const found = new Map<string, { type: string; id: string }>();
  const needles = [`"Patient/${patient}"`, `"Patient/${patient}/_history/`];
  for (let after = 0; ;) {
    const rows = await db.query<{ seq: number; type: string; id: string; content: Resource }>(sql`SELECT v.seq, v.type, v.id, v.version,
      ${sealedColumns(schema, 'v')} FROM ${s}.resource_version v WHERE v.seq > ${after} AND v.sealed IS NOT NULL
        AND (v.type = ANY(${types}::text[]) OR (v.type = 'Patient' AND v.id = ${patient})) ORDER BY v.seq LIMIT ${SEALED_BATCH}`);
    for (const r of rows) {
      const text = JSON.stringify(r.content);
      if (r.type === 'Patient' || needles.some((n) => text.includes(n))) found.set(`${r.type}/${r.id}`, { type: r.type, id: r.id });
    }
    if (rows.length < SEALED_BATCH) break;
    after = Number(rows[rows.length - 1]!.seq);
  }
  return [...found.values()];
}

/** What removing resources took. */
export interface Removed { resources: number; versions: number; indexRows: number }

/**
 * Removes every version of each resource, its index rows and its booking rows, and leaves the current row as an empty
 * deleted tombstone (a read answers 410, a write may use the id again). In the caller's transaction.
 */
export async function eraseResources(tx: Queryable, schema: string, keys: { type: string; id: string }[]): Promise<Removed> {
  const s = ident(schema);
  const out: Removed = { resources: 0, versions: 0, indexRows: 0 };
  if (keys.length === 0) return out;
  // Resources kept (shared ones, other patients') may still name what goes: erasure leaves them dangling.
  await withoutReferenceChecks(tx);
  const rids = (await tx.query<{ rid: string }>(sql`UPDATE ${s}.resource r SET deleted = true, content = NULL, sealed = NULL,
      words = NULL, narrative = NULL
    FROM unnest(${keys.map((k) => k.type)}::text[], ${keys.map((k) => k.id)}::text[]) AS k(type, id)
    WHERE r.type = k.type AND r.id = k.id RETURNING r.rid::text AS rid`)).map((r) => r.rid);
  out.resources = rids.length;
  out.indexRows = await removeIndexRows(tx, schema, rids);
  out.versions = (await tx.query<{ n: number }>(sql`WITH d AS (DELETE FROM ${s}.resource_version WHERE rid = ANY(${rids}::bigint[])
    RETURNING 1) SELECT count(*)::int AS n FROM d`))[0]!.n;
  const appointments = keys.filter((k) => k.type === 'Appointment').map((k) => k.id);
  if (appointments.length > 0) await tx.query(sql`DELETE FROM ${s}.booking WHERE appointment_id = ANY(${appointments}::text[])`);
  return out;
}

async function removeIndexRows(tx: Queryable, schema: string, rids: string[]): Promise<number> {
  let n = 0;
  for (const table of [...INDEX_TABLES.map((t) => `idx_${t}`), 'resource_link']) {
    n += (await tx.query<{ n: number }>(sql`WITH d AS (DELETE FROM ${ident(schema)}.${ident(table)}
      WHERE rid = ANY(${rids}::bigint[]) RETURNING 1) SELECT count(*)::int AS n FROM d`))[0]!.n;
  }
  return n;
}

/**
 * `$expunge` of one resource: a live resource keeps only its current version (every earlier one goes); a deleted one
 * loses every version and its row, as if it had never been written. Answers the versions removed (0: nothing to do).
 */
export async function expungeHistory(tx: Queryable, schema: string, type: string, id: string): Promise<{ versions: number; gone: boolean } | undefined> {
  const s = ident(schema);
  const [row] = await tx.query<{ rid: string; version: number; deleted: boolean }>(sql`SELECT rid::text AS rid, version, deleted
    FROM ${s}.resource WHERE type = ${type} AND id = ${id} FOR UPDATE`);
  if (!row) return undefined;
  const removed = (await tx.query<{ n: number }>(sql`WITH d AS (DELETE FROM ${s}.resource_version WHERE rid = ${row.rid}::bigint
    ${row.deleted ? sql`` : sql`AND version < ${row.version}`} RETURNING 1) SELECT count(*)::int AS n FROM d`))[0]!.n;
  if (!row.deleted) return { versions: removed, gone: false };
  await removeIndexRows(tx, schema, [row.rid]);
  if (type === 'Appointment') await tx.query(sql`DELETE FROM ${s}.booking WHERE appointment_id = ${id}`);
  await tx.query(sql`DELETE FROM ${s}.resource WHERE rid = ${row.rid}::bigint`);
  return { versions: removed, gone: true };
}
