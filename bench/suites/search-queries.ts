/**
 * The search suite's 10 fixed queries (EHR apps and integration engines), each as a FHIR query and as the SQL a person
 * would write by hand on the same index tables (migrations/tenant/002_search_index.sql) for the same page of rows.
 */
import { LOINC, MRN_SYSTEM, SNOMED } from '../data/codes.js';
import type { SamplePatient } from '../lib/context.js';

export interface SearchQuery {
  name: string;
  /** Path and query after the tenant base. */
  http(p: SamplePatient): string;
  sql(schema: string): string;
  values(p: SamplePatient): unknown[];
  /** The answer is a count (Bundle.total ↔ the SQL's single `n`), not a page of resources. */
  countOnly?: boolean;
}

const PAGE = 20;
const ORDER = `ORDER BY r.last_updated DESC, r.id LIMIT ${PAGE}`;
const enc = encodeURIComponent;

/** §3.3 string normalisation as the index stores it: NFD, no marks, lower case, punctuation to spaces, collapsed. */
export const normalise = (s: string): string => s.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase()
  .replace(/[\p{P}\p{S}]+/gu, ' ').replace(/\s+/g, ' ').trim();

/** The patient's Observations/Conditions/Encounters: rows reached from the reference index. */
const ofPatient = (s: string, type: string) => `FROM ${s}.idx_reference p JOIN ${s}.resource r ON r.rid = p.rid
  WHERE p.type = '${type}' AND p.param = 'patient' AND p.ref_type = 'Patient' AND p.ref_id = $1 AND NOT r.deleted`;

/**
 * A token match on code and system. The system is compared through coalesce() so that the planner walks the
 * (type, param, code_ci, …) index: its estimate for the shared system (every LOINC code, every MRN) is far too low.
 */
const token = (t: string, system: string, code: string) => `${t}.code_ci = ${code} AND coalesce(${t}.system, '') = ${system}`;

const CHRONIC = ['44054006', '38341003', '55822004'];
const pick = <T>(list: T[], p: SamplePatient) => list[p.mrn.charCodeAt(0) % list.length]!;

export const QUERIES: SearchQuery[] = [
  { name: 'labs-by-loinc-and-date',
    http: (p) => `Observation?patient=Patient/${p.id}&code=${enc(`${LOINC}|2339-0`)}&date=ge2015-01-01&date=lt2025-01-01`,
    sql: (s) => `SELECT r.content ${ofPatient(s, 'Observation')}
      AND EXISTS (SELECT 1 FROM ${s}.idx_token t WHERE t.rid = r.rid AND t.param = 'code' AND ${token('t', '$2', '$3')})
      AND EXISTS (SELECT 1 FROM ${s}.idx_date d WHERE d.rid = r.rid AND d.param = 'date' AND d.hi > $4 AND d.lo < $5)
      ${ORDER}`,
    values: (p) => [p.id, LOINC, '2339-0', '2015-01-01T00:00:00Z', '2025-01-01T00:00:00Z'] },
  { name: 'vital-signs-sorted-by-date',
    http: (p) => `Observation?patient=Patient/${p.id}&category=vital-signs&_sort=-date`,
    sql: (s) => `SELECT r.content ${ofPatient(s, 'Observation')}
      AND EXISTS (SELECT 1 FROM ${s}.idx_token t WHERE t.rid = r.rid AND t.param = 'category' AND t.code_ci = $2)
      ORDER BY (SELECT max(d.hi) FROM ${s}.idx_date d WHERE d.rid = r.rid AND d.param = 'date') DESC, r.id LIMIT ${PAGE}`,
    values: (p) => [p.id, 'vital-signs'] },
  { name: 'encounters-include-practitioner',
    http: (p) => `Encounter?patient=Patient/${p.id}&_include=Encounter:practitioner`,
    sql: (s) => `WITH m AS (SELECT r.rid, r.content ${ofPatient(s, 'Encounter')} ${ORDER})
      SELECT content FROM m UNION ALL
      SELECT t.content FROM ${s}.resource t WHERE t.type = 'Practitioner' AND NOT t.deleted AND t.id IN (
        SELECT x.ref_id FROM ${s}.idx_reference x WHERE x.rid IN (SELECT rid FROM m) AND x.param = 'practitioner'
        AND x.ref_type = 'Practitioner')`,
    values: (p) => [p.id] },
  { name: 'patient-name-prefix',
    http: (p) => `Patient?name=${enc(p.family.slice(0, 3))}`,
    sql: (s) => `SELECT r.content FROM ${s}.resource r WHERE r.type = 'Patient' AND NOT r.deleted AND r.rid IN (
      SELECT n.rid FROM ${s}.idx_string n WHERE n.type = 'Patient' AND n.param = 'name' AND n.norm LIKE $1) ${ORDER}`,
    values: (p) => [`${normalise(p.family.slice(0, 3))}%`] },
  { name: 'patient-by-identifier',
    http: (p) => `Patient?identifier=${enc(`${MRN_SYSTEM}|${p.mrn}`)}`,
    sql: (s) => `SELECT r.content FROM ${s}.idx_token t JOIN ${s}.resource r ON r.rid = t.rid
      WHERE t.type = 'Patient' AND t.param = 'identifier' AND ${token('t', '$1', '$2')} AND NOT r.deleted ${ORDER}`,
    values: (p) => [MRN_SYSTEM, p.mrn.toLowerCase()] },
  { name: 'has-condition',
    http: (p) => `Patient?_has:Condition:patient:code=${enc(`${SNOMED}|${pick(CHRONIC, p)}`)}`,
    sql: (s) => `SELECT r.content FROM ${s}.resource r WHERE r.type = 'Patient' AND NOT r.deleted AND r.id IN (
      SELECT p.ref_id FROM ${s}.idx_token t JOIN ${s}.idx_reference p ON p.rid = t.rid AND p.param = 'patient'
        AND p.ref_type = 'Patient'
      WHERE t.type = 'Condition' AND t.param = 'code' AND ${token('t', '$1', '$2')}) ${ORDER}`,
    values: (p) => [SNOMED, pick(CHRONIC, p)] },
  { name: 'chained-patient-identifier',
    http: (p) => `Condition?patient.identifier=${enc(`${MRN_SYSTEM}|${p.mrn}`)}`,
    sql: (s) => `SELECT r.content FROM ${s}.idx_reference p JOIN ${s}.resource r ON r.rid = p.rid
      WHERE p.type = 'Condition' AND p.param = 'patient' AND p.ref_type = 'Patient' AND NOT r.deleted AND p.ref_id IN (
        SELECT x.id FROM ${s}.idx_token t JOIN ${s}.resource x ON x.rid = t.rid
        WHERE t.type = 'Patient' AND t.param = 'identifier' AND ${token('t', '$1', '$2')}) ${ORDER}`,
    values: (p) => [MRN_SYSTEM, p.mrn.toLowerCase()] },
  { name: 'patient-revinclude-conditions',
    http: (p) => `Patient?_id=${p.id}&_revinclude=Condition:patient`,
    sql: (s) => `SELECT r.content FROM ${s}.resource r WHERE r.type = 'Patient' AND r.id = $1 AND NOT r.deleted
      UNION ALL SELECT r.content ${ofPatient(s, 'Condition')}`,
    values: (p) => [p.id] },
  { name: 'observation-count-by-code',
    http: (p) => `Observation?code=${enc(`${LOINC}|${pick(['8867-4', '9279-1', '8310-5'], p)}`)}&_summary=count`,
    // From the index alone: a delete removes its resource's index rows (migrations/tenant/002_search_index.sql).
    sql: (s) => `SELECT count(DISTINCT t.rid)::int AS n FROM ${s}.idx_token t
      WHERE t.type = 'Observation' AND t.param = 'code' AND t.code_ci = $2 AND t.system = $1`,
    values: (p) => [LOINC, pick(['8867-4', '9279-1', '8310-5'], p)],
    countOnly: true },
  { name: 'active-conditions',
    http: (p) => `Condition?patient=Patient/${p.id}&clinical-status=active`,
    sql: (s) => `SELECT r.content ${ofPatient(s, 'Condition')}
      AND EXISTS (SELECT 1 FROM ${s}.idx_token t WHERE t.rid = r.rid AND t.param = 'clinical-status' AND t.code_ci = $2)
      ${ORDER}`,
    values: (p) => [p.id, 'active'] },
];
