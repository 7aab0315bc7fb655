/** Patient, Practitioner, Organization and Coverage for one generated patient bundle (Synthea-shaped). */
import type { Resource } from '../../src/fhir/types.js';
import type { Rng } from './prng.js';
import { CITIES, FAMILY, GIVEN_FEMALE, GIVEN_MALE, HOSPITAL_WORDS, MRN_SYSTEM, PAYERS, PREFIX, STREETS,
  SYNTHEA_SYSTEM } from './codes.js';
import { type Json, coding, concept, date, dateTime, days, ref } from './shapes.js';

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

export interface Person {
  gender: 'male' | 'female';
  given: string;
  family: string;
  mrn: string;
  birth: number;
}

function address(rng: Rng): Json {
  const place = rng.pick(CITIES);
  return { line: [`${rng.int(1, 999)} ${rng.pick(STREETS)}`], city: place.city, state: 'MA',
    postalCode: place.postalCode, country: 'US' };
}

const phone = (rng: Rng) => `555-${rng.digits(3)}-${rng.digits(4)}`;

export function drawPerson(rng: Rng, now: number): Person {
  const gender = rng.chance(0.5) ? 'female' : 'male';
  return { gender, given: rng.pick(gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE), family: rng.pick(FAMILY),
    mrn: rng.uuid(), birth: now - days(rng.int(2 * 365, 90 * 365)) };
}

export function patient(rng: Rng, p: Person): Resource {
  const ssn = `999-${rng.digits(2)}-${rng.digits(4)}`;
  return {
    resourceType: 'Patient',
    identifier: [
      { system: SYNTHEA_SYSTEM, value: rng.uuid() },
      { type: concept(V2_0203, 'MR', 'Medical Record Number'), system: MRN_SYSTEM, value: p.mrn },
      { type: concept(V2_0203, 'SS', 'Social Security Number'), system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn },
    ],
    name: [{ use: 'official', family: p.family, given: [p.given, rng.pick(p.gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE)],
      prefix: [rng.pick(PREFIX[p.gender])] }],
    telecom: [{ system: 'phone', value: phone(rng), use: 'home' }],
    gender: p.gender,
    birthDate: date(p.birth),
    address: [address(rng)],
    maritalStatus: concept('http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', rng.pick(['M', 'S']),
      'Marital status'),
    communication: [{ language: concept('urn:ietf:bcp:47', 'en-US', 'English (United States)') }],
  };
}

export function organization(rng: Rng): Resource {
  const place = rng.pick(CITIES);
  return {
    resourceType: 'Organization',
    identifier: [{ system: SYNTHEA_SYSTEM, value: rng.uuid() }],
    active: true,
    type: [concept('http://terminology.hl7.org/CodeSystem/organization-type', 'prov', 'Healthcare Provider')],
    name: `${place.city} ${rng.pick(HOSPITAL_WORDS)} Hospital`,
    telecom: [{ system: 'phone', value: phone(rng) }],
    address: [address(rng)],
  };
}

export function practitioner(rng: Rng): Resource {
  const gender = rng.chance(0.5) ? 'female' : 'male';
  const family = rng.pick(FAMILY);
  return {
    resourceType: 'Practitioner',
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: rng.digits(10) }],
    active: true,
    name: [{ family, given: [rng.pick(gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE)], prefix: ['Dr.'] }],
    telecom: [{ system: 'email', value: `dr.${rng.digits(6)}@example.org`, use: 'work' }],
    address: [address(rng)],
    gender,
  };
}

export function coverage(rng: Rng, patientUrn: string, orgUrn: string, start: number): Resource {
  const payer = rng.pick(PAYERS);
  return {
    resourceType: 'Coverage',
    identifier: [{ system: 'https://example.org/member-id', value: rng.digits(9) }],
    status: 'active',
    type: { coding: [coding('http://terminology.hl7.org/CodeSystem/v3-ActCode', 'EHCPOL', 'extended healthcare')],
      text: payer },
    subscriberId: rng.digits(9),
    beneficiary: ref(patientUrn),
    relationship: concept('http://terminology.hl7.org/CodeSystem/subscriber-relationship', 'self', 'Self'),
    period: { start: dateTime(start) },
    payor: [ref(orgUrn, payer)],
  };
}
