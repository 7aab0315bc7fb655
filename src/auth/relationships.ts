/**
 * The relationship rule of a role (issue #16 §1; README "Access model"): the patients a user is related to, read from
 * the tenant's own records through the search index. The user is their fhirUser and, for a Practitioner, each of
 * their live PractitionerRoles. Evidence, by kind:
 * - care-team: a CareTeam with the user as participant.member, for its subject;
 * - encounter: an Encounter with the user as participant.individual, for its subject;
 * - appointment: an Appointment with the user and the patient among its participants;
 * - episode-of-care: an EpisodeOfCare with the user as careManager, for its patient;
 * - general-practitioner: a Patient naming the user as generalPractitioner;
 * - organization: a Patient managed by an Organization one of the user's PractitionerRoles works for.
 * Deleted resources are no evidence. A request that may write reads the set once, before any of its writes, so a
 * write can never relate its own author to a patient; a read-only request evaluates it inside its own statements
 * (a subquery, no round trip of its own).
 */
import type { Queryable } from '../db/db.js';
import { type Sql, ident, join, raw, sql } from '../db/sql.js';
import type { Relationship } from './roles.js';

/** Evidence held by one resource: `Type.userParam.patientParam` over its reference index rows. */
const SHARED: Partial<Record<Relationship, string>> = {
  'care-team': 'CareTeam.participant.subject',
  encounter: 'Encounter.participant.subject',
  appointment: 'Appointment.actor.actor',
  'episode-of-care': 'EpisodeOfCare.care-manager.patient',
};

/**
 * A statement selecting the ids (column `id`) of the Patients the user is related to through any of kinds; undefined
 * when there can be none (no fhirUser, no kinds). Usable as a subquery: `x IN (…)`.
 */
export function relatedPatientsSql(schema: string, fhirUser: string | undefined, kinds: readonly string[]): Sql | undefined {
  const m = /^(Practitioner|PractitionerRole|RelatedPerson|Person|Patient)\/(.+)$/.exec(fhirUser ?? '');
  if (!m || kinds.length === 0) return undefined;
  const s = ident(schema);
  const parts: Sql[] = [];
  const shared = kinds.flatMap((k) => SHARED[k as Relationship] ?? []);
  if (shared.length > 0) {
    parts.push(sql`SELECT p.ref_id AS id FROM me JOIN ${s}.idx_reference u ON u.ref_id = me.ref_id AND u.ref_type = me.ref_type
      JOIN ${s}.idx_reference p ON p.rid = u.rid AND p.ref_type = 'Patient' AND p.ref_id IS NOT NULL
      JOIN ${s}.resource r ON r.rid = u.rid AND NOT r.deleted
      WHERE u.type || '.' || u.param || '.' || p.param = ANY(${shared})`);
  }
  if (kinds.includes('general-practitioner')) {
    parts.push(sql`SELECT r.id FROM me JOIN ${s}.idx_reference u ON u.ref_id = me.ref_id AND u.ref_type = me.ref_type
      AND u.type = 'Patient' AND u.param = 'general-practitioner' JOIN ${s}.resource r ON r.rid = u.rid AND NOT r.deleted`);
  }
  if (kinds.includes('organization')) {
    parts.push(sql`SELECT r.id FROM me JOIN ${s}.resource pr ON pr.type = 'PractitionerRole' AND pr.id = me.ref_id
        AND me.ref_type = 'PractitionerRole' AND NOT pr.deleted
      JOIN ${s}.idx_reference o ON o.rid = pr.rid AND o.param = 'organization' AND o.ref_type = 'Organization'
      JOIN ${s}.idx_reference u ON u.ref_id = o.ref_id AND u.ref_type = 'Organization' AND u.type = 'Patient' AND u.param = 'organization'
      JOIN ${s}.resource r ON r.rid = u.rid AND NOT r.deleted`);
  }
  if (parts.length === 0) return undefined;
  return sql`${me(s, m[1]!, m[2]!)} ${join(parts, ' UNION ')}`;
}

/** The user as `me (ref_type, ref_id)`: their fhirUser and, for a Practitioner, each of their live PractitionerRoles. */
const me = (s: ReturnType<typeof ident>, type: string, id: string) => sql`WITH me (ref_type, ref_id) AS (
    SELECT ${type}::text, ${id}::text
    UNION SELECT 'PractitionerRole', r.id FROM ${s}.idx_reference i JOIN ${s}.resource r ON r.rid = i.rid AND NOT r.deleted
      WHERE i.ref_id = ${id} AND i.ref_type = ${type} AND i.param = 'practitioner' AND i.type = 'PractitionerRole')`;

/**
 * Who the user is as a Consent actor may name them (consent.ts): their fhirUser, their live PractitionerRoles, the
 * Organizations those work for, and the live CareTeams with the user or one of those roles as participant.
 */
export async function actorRefs(db: Queryable, schema: string, fhirUser: string | undefined): Promise<string[]> {
  const m = /^(Practitioner|PractitionerRole|RelatedPerson|Person|Patient)\/(.+)$/.exec(fhirUser ?? '');
  if (!m) return [];
  const s = ident(schema);
  const rows = await db.query<{ ref: string }>(sql`${me(s, m[1]!, m[2]!)}
    SELECT ref_type || '/' || ref_id AS ref FROM me
    UNION SELECT 'Organization/' || o.ref_id FROM me JOIN ${s}.resource pr ON pr.type = 'PractitionerRole' AND pr.id = me.ref_id
        AND me.ref_type = 'PractitionerRole' AND NOT pr.deleted
      JOIN ${s}.idx_reference o ON o.rid = pr.rid AND o.param = 'organization' AND o.ref_type = 'Organization'
    UNION SELECT 'CareTeam/' || r.id FROM me JOIN ${s}.idx_reference u ON u.ref_id = me.ref_id AND u.ref_type = me.ref_type
        AND u.type = 'CareTeam' AND u.param = 'participant'
      JOIN ${s}.resource r ON r.rid = u.rid AND NOT r.deleted`);
  return rows.map((r) => r.ref).sort();
}

/**
 * The same relation as a test of one patient id (column): `related(column)` is true when the user is related to that
 * patient through any of kinds; undefined when nobody can be (no fhirUser, no kinds). A read-only statement uses it
 * instead of the whole related set: each test starts from the patient's own evidence rows (a CareTeam of the patient
 * naming the user …) through the reference index, a few index probes however many patients the user has.
 */
export function relatedTest(schema: string, fhirUser: string | undefined, kinds: readonly string[]): ((column: Sql) => Sql) | undefined {
  const m = /^(Practitioner|PractitionerRole|RelatedPerson|Person|Patient)\/(.+)$/.exec(fhirUser ?? '');
  if (!m || kinds.length === 0) return undefined;
  const [type, id] = [m[1]!, m[2]!];
  const s = ident(schema);
  // The user's PractitionerRoles (a PractitionerRole user is one of their own).
  const roles = sql`SELECT pr.id FROM ${s}.idx_reference i JOIN ${s}.resource pr ON pr.rid = i.rid AND NOT pr.deleted
    WHERE i.ref_id = ${id} AND i.ref_type = ${type} AND i.param = 'practitioner' AND i.type = 'PractitionerRole'
    UNION SELECT ${id}::text WHERE ${type}::text = 'PractitionerRole'`;
  const isMe = (u: string) => sql`((${raw(u)}.ref_type = ${type} AND ${raw(u)}.ref_id = ${id})
    OR (${raw(u)}.ref_type = 'PractitionerRole' AND ${raw(u)}.ref_id IN (${roles})))`;
  const shared = kinds.flatMap((k) => SHARED[k as Relationship] ?? []).map((spec) => spec.split('.') as [string, string, string]);
  return (column) => {
    const tests: Sql[] = shared.map(([holder, userParam, patientParam]) => sql`EXISTS (SELECT 1 FROM ${s}.idx_reference rp
      JOIN ${s}.idx_reference ru ON ru.rid = rp.rid AND ru.param = ${userParam} AND ${isMe('ru')}
      JOIN ${s}.resource rh ON rh.rid = rp.rid AND NOT rh.deleted
      WHERE rp.ref_id = ${column} AND rp.ref_type = 'Patient' AND rp.param = ${patientParam} AND rp.type = ${holder})`);
    if (kinds.includes('general-practitioner')) {
      tests.push(sql`EXISTS (SELECT 1 FROM ${s}.resource rg JOIN ${s}.idx_reference ug ON ug.rid = rg.rid AND ug.param = 'general-practitioner'
        AND ${isMe('ug')} WHERE rg.type = 'Patient' AND rg.id = ${column} AND NOT rg.deleted)`);
    }
    if (kinds.includes('organization')) {
      tests.push(sql`EXISTS (SELECT 1 FROM ${s}.resource ro JOIN ${s}.idx_reference uo ON uo.rid = ro.rid AND uo.param = 'organization'
        AND uo.ref_type = 'Organization' WHERE ro.type = 'Patient' AND ro.id = ${column} AND NOT ro.deleted
        AND uo.ref_id IN (SELECT o.ref_id FROM ${s}.resource pr JOIN ${s}.idx_reference o ON o.rid = pr.rid AND o.param = 'organization'
          AND o.ref_type = 'Organization' WHERE pr.type = 'PractitionerRole' AND NOT pr.deleted AND pr.id IN (${roles})))`);
    }
    return tests.length === 0 ? sql`FALSE` : sql`(${join(tests, ' OR ')})`;
  };
}

/** The ids of the Patients the user is related to through any of kinds (empty for a user without a fhirUser). */
export async function relatedPatients(db: Queryable, schema: string, fhirUser: string | undefined, kinds: readonly string[]): Promise<string[]> {
  const statement = relatedPatientsSql(schema, fhirUser, kinds);
  if (!statement) return [];
  return (await db.query<{ id: string }>(statement)).map((r) => r.id).sort();
}
