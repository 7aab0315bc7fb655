/** One patient's transaction Bundle (Synthea-shaped): every resource created by POST under a urn:uuid fullUrl. */
import type { Bundle, BundleEntry, Resource } from '../../src/fhir/types.js';
import { Rng, mix } from './prng.js';
import { type Code, CONDITIONS, ENCOUNTER_TYPES, MEDICATIONS, PROCEDURES, VACCINES } from './codes.js';
import { type Person, coverage, drawPerson, organization, patient, practitioner } from './people.js';
import { type Subject, type Visit, condition, encounter, immunization, labs, medicationRequest, procedure,
  vitals } from './clinical.js';
import { type Billed, claim, explanationOfBenefit } from './billing.js';
import { days, postEntry } from './shapes.js';
import { diary } from './scheduling.js';

/** Generated data is anchored to a fixed "now" so that it never depends on the day it is made. */
export const NOW = Date.UTC(2025, 0, 1);
export const DEFAULT_SEED = 20250101;

export interface PatientBundle {
  bundle: Bundle;
  /** Entries in the bundle (= resources it creates). */
  resources: number;
  /** Index of the Patient entry, to find its server id in the transaction response. */
  patientEntry: number;
  person: Person;
}

class Builder {
  readonly entries: BundleEntry[] = [];
  constructor(readonly rng: Rng) {}

  add(resource: Resource): string {
    const urn = `urn:uuid:${this.rng.uuid()}`;
    this.entries.push(postEntry(urn, resource));
    return urn;
  }
}

function visitTimes(rng: Rng, birth: number): number[] {
  const from = Math.max(birth, NOW - days(15 * 365));
  const count = rng.int(3, 13);
  const times = Array.from({ length: count }, () => from + Math.floor(rng.next() * (NOW - from - days(1))));
  return times.sort((a, b) => a - b);
}

function bill(b: Builder, s: Subject, billed: Billed): void {
  const c = claim(b.rng, s, billed);
  const claimUrn = b.add(c.resource);
  b.add(explanationOfBenefit(b.rng, s, billed, claimUrn, c));
}

/** One visit: the Encounter, its vital signs, sometimes labs, a diagnosis, a procedure, a prescription, a vaccine. */
function addVisit(b: Builder, s: Subject, coverageUrn: string, at: number): void {
  const { rng } = b;
  const type = rng.pick(ENCOUNTER_TYPES);
  const visit: Visit = { urn: '', start: at, end: at + 30 * 60_000, type };
  visit.urn = b.add(encounter(rng, s, visit));
  for (const r of vitals(rng, s, visit)) b.add(r);
  if (rng.chance(0.5)) for (const r of labs(rng, s, visit)) b.add(r);
  const items: Code[] = [type];
  const diagnosis = rng.chance(0.35) ? b.add(condition(rng, s, visit, rng.pick(CONDITIONS), NOW)) : undefined;
  if (rng.chance(0.3)) {
    const p = rng.pick(PROCEDURES);
    b.add(procedure(s, visit, p, diagnosis));
    items.push(p);
  }
  if (rng.chance(0.3)) b.add(immunization(s, visit, rng.pick(VACCINES)));
  bill(b, s, { visit, coverage: coverageUrn, items, kind: type.cls === 'AMB' ? 'professional' : 'institutional' });
  if (rng.chance(0.25)) {
    const med = rng.pick(MEDICATIONS);
    const prescription = b.add(medicationRequest(rng, s, visit, med, diagnosis));
    bill(b, s, { visit, coverage: coverageUrn, items: [type], prescription, kind: 'pharmacy' });
  }
}

/** Patient `index` of the population drawn from `seed`; independent of every other index. */
export function patientBundle(seed: number, index: number): PatientBundle {
  const b = new Builder(new Rng(mix(seed, index)));
  const person = drawPerson(b.rng, NOW);
  const s: Subject = { organization: b.add(organization(b.rng)), practitioner: b.add(practitioner(b.rng)), patient: '' };
  const patientEntry = b.entries.length;
  s.patient = b.add(patient(b.rng, person));
  const times = visitTimes(b.rng, person.birth);
  const coverageUrn = b.add(coverage(b.rng, s.patient, s.organization, times[0]!));
  for (const at of times) addVisit(b, s, coverageUrn, at);
  // Last, so that the resources before are the same as before the diary was added (issue #18).
  diary(b.rng, index, s.patient, s.practitioner, NOW, (r) => b.add(r));
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: b.entries };
  return { bundle, resources: b.entries.length, patientEntry, person };
}
