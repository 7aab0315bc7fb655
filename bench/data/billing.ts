/** Claims and ExplanationOfBenefits for a visit or a prescription, paid under the patient's Coverage. */
import type { Resource } from '../../src/fhir/types.js';
import type { Rng } from './prng.js';
import { type Code, SNOMED } from './codes.js';
import type { Subject, Visit } from './clinical.js';
import { type Json, coding, concept, dateTime, money, ref } from './shapes.js';

const CLAIM_TYPE = 'http://terminology.hl7.org/CodeSystem/claim-type';

export interface Billed {
  visit: Visit;
  coverage: string;
  /** Items billed: the visit itself, procedures, or a medication request. */
  items: Code[];
  prescription?: string;
  kind: 'institutional' | 'professional' | 'pharmacy';
}

const itemList = (b: Billed, price: number[]) => b.items.map((code, i) => ({
  sequence: i + 1,
  productOrService: concept(SNOMED, code.code, code.display),
  encounter: [ref(b.visit.urn)],
  net: money(price[i]!),
}));

export function claim(rng: Rng, s: Subject, b: Billed): { resource: Resource; total: number; prices: number[] } {
  const prices = b.items.map(() => rng.int(50, 1500) + rng.int(0, 99) / 100);
  const total = prices.reduce((a, x) => a + x, 0);
  const resource: Resource = {
    resourceType: 'Claim',
    status: 'active',
    type: { coding: [coding(CLAIM_TYPE, b.kind)] },
    use: 'claim',
    patient: ref(s.patient),
    billablePeriod: { start: dateTime(b.visit.start), end: dateTime(b.visit.end) },
    created: dateTime(b.visit.end),
    provider: ref(s.organization),
    priority: { coding: [coding('http://terminology.hl7.org/CodeSystem/processpriority', 'normal')] },
    ...(b.prescription ? { prescription: ref(b.prescription) } : {}),
    insurance: [{ sequence: 1, focal: true, coverage: ref(b.coverage) }],
    item: itemList(b, prices),
    total: money(total),
  };
  return { resource, total, prices };
}

function adjudication(amount: number): Json[] {
  const cat = (code: string, display: string, value: number) => ({
    category: { coding: [coding('http://terminology.hl7.org/CodeSystem/adjudication', code, display)] },
    amount: money(value),
  });
  return [cat('submitted', 'Submitted Amount', amount), cat('benefit', 'Benefit Amount', amount * 0.8)];
}

export function explanationOfBenefit(rng: Rng, s: Subject, b: Billed, claimUrn: string,
  c: { total: number; prices: number[] }): Resource {
  return {
    resourceType: 'ExplanationOfBenefit',
    identifier: [{ system: 'https://bluebutton.cms.gov/resources/variables/clm_id', value: rng.uuid() }],
    status: 'active',
    type: { coding: [coding(CLAIM_TYPE, b.kind)] },
    use: 'claim',
    patient: ref(s.patient),
    billablePeriod: { start: dateTime(b.visit.start), end: dateTime(b.visit.end) },
    created: dateTime(b.visit.end),
    insurer: ref(s.organization),
    provider: ref(s.practitioner),
    claim: ref(claimUrn),
    outcome: 'complete',
    careTeam: [{ sequence: 1, provider: ref(s.practitioner),
      role: { coding: [coding('http://terminology.hl7.org/CodeSystem/claimcareteamrole', 'primary',
        'Primary Care Practitioner')] } }],
    insurance: [{ focal: true, coverage: ref(b.coverage) }],
    item: b.items.map((code, i) => ({
      sequence: i + 1,
      careTeamSequence: [1],
      productOrService: concept(SNOMED, code.code, code.display),
      servicedPeriod: { start: dateTime(b.visit.start), end: dateTime(b.visit.end) },
      encounter: [ref(b.visit.urn)],
      net: money(c.prices[i]!),
      adjudication: adjudication(c.prices[i]!),
    })),
    total: [{ category: { coding: [coding('http://terminology.hl7.org/CodeSystem/adjudication', 'submitted',
      'Submitted Amount')] }, amount: money(c.total) }],
    payment: { amount: money(c.total * 0.8) },
  };
}
