/**
 * The patients a Patient- or Group-level export covers (bulk-data.md §8.2–§8.3), fixed once at transactionTime into
 * export_patient: every Patient, the POSTed `patient` ids, or the Group's members as the Group stood at T
 * (members marked inactive are left out, project decision).
 */
import type { Db } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { groupNotAtTransactionTime } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { type Snapshot, insertPatients, readAt } from '../storage/as-of.js';
import type { ExportParams } from './types.js';

interface Member { entity?: { reference?: string }; inactive?: boolean }

/** Ids of the Patients among a Group's active members (relative or absolute-on-this-server references). */
export function groupPatients(group: Resource, base: string): string[] {
  const ids: string[] = [];
  for (const m of (group.member as Member[] | undefined) ?? []) {
    const ref = m.entity?.reference;
    if (m.inactive === true || !ref) continue;
    const local = ref.startsWith(`${base}/`) ? ref.slice(base.length + 1) : ref;
    const match = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(local);
    if (match) ids.push(match[1]!);
  }
  return [...new Set(ids)];
}

async function groupAt(db: Db, s: Snapshot, id: string): Promise<Resource> {
  const [row] = await db.query<{ content: string | Resource }>(readAt(s, 'Group', id));
  if (!row) throw groupNotAtTransactionTime(id);
  return typeof row.content === 'string' ? JSON.parse(row.content) as Resource : row.content;
}

/** (Re)writes the job's export_patient rows: idempotent, so a restarted job's start repeats it safely. */
export async function fixPatients(db: Db, s: Snapshot, job: string, params: ExportParams): Promise<void> {
  await clearPatients(db, s.schema, job);
  let ids = params.patients;
  if (params.level === 'group') {
    const members = groupPatients(await groupAt(db, s, params.group!), params.base);
    ids = ids ? ids.filter((id) => members.includes(id)) : members;
  }
  await db.query(insertPatients(s, job, ids));
}

export async function clearPatients(db: Db, schema: string, job: string): Promise<void> {
  await db.query(sql`DELETE FROM ${ident(schema)}.export_patient WHERE job = ${job}`);
}
