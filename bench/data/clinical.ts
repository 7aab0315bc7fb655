/** Encounters and what happens in them: vital signs, LOINC labs, Conditions, Procedures, medications, vaccines. */
import type { Resource } from '../../src/fhir/types.js';
import type { Rng } from './prng.js';
import { BLOOD_PRESSURE, type Code, type ConditionCode, CVX, ENCOUNTER_TYPES, LABS, LOINC, type Measure, RXNORM,
  SNOMED, VITALS } from './codes.js';
import { type Json, coding, concept, dateTime, days, instant, quantity, ref } from './shapes.js';

/** The references every clinical resource of one patient needs. */
export interface Subject {
  patient: string;
  practitioner: string;
  organization: string;
}

export interface Visit {
  urn: string;
  start: number;
  end: number;
  type: Code;
}

const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const category = (code: 'vital-signs' | 'laboratory') =>
  [{ coding: [coding(OBS_CATEGORY, code, code === 'vital-signs' ? 'Vital signs' : 'Laboratory')] }];

export function encounter(rng: Rng, s: Subject, v: Visit): Resource {
  const t = ENCOUNTER_TYPES.find((e) => e.code === v.type.code)!;
  return {
    resourceType: 'Encounter',
    status: 'finished',
    class: coding('http://terminology.hl7.org/CodeSystem/v3-ActCode', t.cls),
    type: [concept(SNOMED, t.code, t.display)],
    subject: ref(s.patient),
    participant: [{ type: [concept('http://terminology.hl7.org/CodeSystem/v3-ParticipationType', 'PPRF',
      'primary performer')], individual: ref(s.practitioner) }],
    period: { start: dateTime(v.start), end: dateTime(v.end) },
    serviceProvider: ref(s.organization),
    ...(rng.chance(0.3) ? { reasonCode: [concept(SNOMED, '72892002', 'Normal pregnancy')] } : {}),
  };
}

function observation(s: Subject, visit: Visit | undefined, kind: 'vital-signs' | 'laboratory', code: Code, at: number,
  value: Json): Resource {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: category(kind),
    code: concept(LOINC, code.code, code.display),
    subject: ref(s.patient),
    ...(visit ? { encounter: ref(visit.urn) } : {}),
    effectiveDateTime: dateTime(at),
    issued: instant(at + 1000),
    ...value,
  };
}

export function vitalSign(rng: Rng, s: Subject, visit: Visit | undefined, m: Measure, at: number): Resource {
  return observation(s, visit, 'vital-signs', m, at, { valueQuantity: quantity(rng.normal(m.mean, m.sd, m.decimals), m.unit) });
}

function bloodPressure(rng: Rng, s: Subject, visit: Visit, at: number): Resource {
  const part = (x: Measure) => ({ code: concept(LOINC, x.code, x.display),
    valueQuantity: quantity(rng.normal(x.mean, x.sd, 0), x.unit) });
  return observation(s, visit, 'vital-signs', BLOOD_PRESSURE.panel, at,
    { component: [part(BLOOD_PRESSURE.systolic), part(BLOOD_PRESSURE.diastolic)] });
}

/** Vital signs taken at a visit: blood pressure and four to seven single measurements. */
export function vitals(rng: Rng, s: Subject, v: Visit): Resource[] {
  const out = [bloodPressure(rng, s, v, v.start)];
  for (const m of VITALS) if (rng.chance(0.65)) out.push(vitalSign(rng, s, v, m, v.start));
  return out;
}

/** A metabolic or lipid panel's results, each with a value and its reference range. */
export function labs(rng: Rng, s: Subject, v: Visit): Resource[] {
  const first = rng.int(0, LABS.length - 1);
  const count = rng.int(3, 7);
  const out: Resource[] = [];
  for (let k = 0; k < count; k++) {
    const l = LABS[(first + k) % LABS.length]!;
    out.push(observation(s, v, 'laboratory', l, v.start + days(0.02), {
      valueQuantity: quantity(rng.normal(l.mean, l.sd, l.decimals), l.unit),
      referenceRange: [{ low: quantity(l.low, l.unit), high: quantity(l.high, l.unit) }],
    }));
  }
  return out;
}

export function condition(rng: Rng, s: Subject, v: Visit, c: ConditionCode, now: number): Resource {
  const resolvedAt = v.start + days(rng.int(7, 60));
  const resolved = !c.chronic && resolvedAt < now;
  return {
    resourceType: 'Condition',
    clinicalStatus: concept('http://terminology.hl7.org/CodeSystem/condition-clinical', resolved ? 'resolved' : 'active',
      resolved ? 'Resolved' : 'Active'),
    verificationStatus: concept('http://terminology.hl7.org/CodeSystem/condition-ver-status', 'confirmed', 'Confirmed'),
    category: [concept('http://terminology.hl7.org/CodeSystem/condition-category', 'encounter-diagnosis',
      'Encounter Diagnosis')],
    code: concept(SNOMED, c.code, c.display),
    subject: ref(s.patient),
    encounter: ref(v.urn),
    onsetDateTime: dateTime(v.start),
    recordedDate: dateTime(v.start),
    ...(resolved ? { abatementDateTime: dateTime(resolvedAt) } : {}),
  };
}

export function procedure(s: Subject, v: Visit, p: Code, reason?: string): Resource {
  return {
    resourceType: 'Procedure',
    status: 'completed',
    code: concept(SNOMED, p.code, p.display),
    subject: ref(s.patient),
    encounter: ref(v.urn),
    performedPeriod: { start: dateTime(v.start), end: dateTime(v.start + 15 * 60_000) },
    ...(reason ? { reasonReference: [ref(reason)] } : {}),
  };
}

export function medicationRequest(rng: Rng, s: Subject, v: Visit, med: Code, reason?: string): Resource {
  return {
    resourceType: 'MedicationRequest',
    status: rng.chance(0.6) ? 'active' : 'stopped',
    intent: 'order',
    medicationCodeableConcept: concept(RXNORM, med.code, med.display),
    subject: ref(s.patient),
    encounter: ref(v.urn),
    authoredOn: dateTime(v.start),
    requester: ref(s.practitioner),
    ...(reason ? { reasonReference: [ref(reason)] } : {}),
    dosageInstruction: [{ sequence: 1, text: 'Take as directed', timing: { repeat: { frequency: 1, period: 1,
      periodUnit: 'd' } }, asNeededBoolean: false }],
  };
}

export function immunization(s: Subject, v: Visit, vaccine: Code): Resource {
  return {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: concept(CVX, vaccine.code, vaccine.display),
    patient: ref(s.patient),
    encounter: ref(v.urn),
    occurrenceDateTime: dateTime(v.start),
    primarySource: true,
  };
}
