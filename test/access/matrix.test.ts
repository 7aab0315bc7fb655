/**
 * The access matrix (issue #16 "Proof"): every default role × resource type × interaction × patient (related to the
 * user, unrelated, unrelated with the glass broken for them, or related but withholding their record from the user by
 * Consent), each cell's expected outcome computed here from the roles' published ceilings and the Consent rules
 * (README "Access model") by a model that shares no code with the server, then asked of the server over HTTP. Counts
 * leaks (the server allowed or showed what the model refuses) and wrongful refusals separately; both must be 0.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { addUser, userToken } from './helpers.js';

const s = await startServer(t);

/**
 * The default roles as the README publishes them: ceilings, whether a relationship rule confines them, and whether
 * their holders may break the glass.
 */
const ROLES: Record<string, { scopes: string; related: boolean; glass?: true }> = {
  doctor: { scopes: 'user/*.crus', related: true, glass: true },
  nurse: { scopes: 'user/*.rs user/Observation.cu user/MedicationAdministration.cu user/Encounter.u user/CarePlan.u user/Task.u user/Procedure.cu', related: true, glass: true },
  receptionist: { scopes: 'user/Patient.crus user/RelatedPerson.crus user/Coverage.crus user/Appointment.crus user/AppointmentResponse.crus user/Slot.rs user/Schedule.rs user/Practitioner.rs user/PractitionerRole.rs user/Organization.rs user/Location.rs user/HealthcareService.rs user/Encounter.rs', related: false },
  lab: { scopes: 'user/ServiceRequest.rs user/Task.rus user/Specimen.crus user/Observation.crus user/DiagnosticReport.crus user/Patient.rs user/Practitioner.rs user/Organization.rs', related: false },
  pharmacist: { scopes: 'user/MedicationRequest.rus user/MedicationDispense.crus user/Medication.rs user/AllergyIntolerance.rs user/Condition.rs user/Observation.rs user/Patient.rs user/Practitioner.rs user/Organization.rs', related: false },
  billing: { scopes: 'user/Patient.rs user/Coverage.crus user/Account.crus user/ChargeItem.crus user/ChargeItemDefinition.rs user/Invoice.crus user/Claim.crus user/ClaimResponse.rs user/ExplanationOfBenefit.rs user/PaymentNotice.crus user/PaymentReconciliation.crus user/Encounter.rs user/Organization.rs user/Practitioner.rs', related: false },
  auditor: { scopes: 'user/AuditEvent.rs user/Consent.rs user/Provenance.rs', related: false },
  admin: { scopes: 'user/*.cruds', related: false },
  patient: { scopes: 'user/*.rs user/Appointment.cu user/QuestionnaireResponse.cu user/Consent.cu', related: true },
};

/** May the role do perm on type at all? (the model: `user/T.perms`, '*' for every type but AuditEvent) */
function permits(role: string, type: string, perm: string): boolean {
  return ROLES[role]!.scopes.split(' ').some((scope) => {
    const [, scoped, perms] = /^user\/([^.]+)\.([a-z]+)$/.exec(scope)!;
    return (scoped === type || (scoped === '*' && type !== 'AuditEvent')) && perms!.includes(perm);
  });
}

const ref = (r: string) => ({ reference: r });
const cc = (system: string, code: string) => ({ coding: [{ system, code }] });
/** A minimal valid instance of each type, about patient p (types outside the compartment ignore p). */
const MAKE: Record<string, (p: string) => Record<string, unknown>> = {
  Patient: () => ({ resourceType: 'Patient', name: [{ family: 'Matrix' }] }),
  Observation: (p) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: ref(`Patient/${p}`) }),
  Condition: (p) => ({ resourceType: 'Condition', code: { text: 'x' }, subject: ref(`Patient/${p}`) }),
  Encounter: (p) => ({ resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: ref(`Patient/${p}`) }),
  MedicationRequest: (p) => ({ resourceType: 'MedicationRequest', status: 'active', intent: 'order', medicationCodeableConcept: { text: 'x' }, subject: ref(`Patient/${p}`) }),
  Appointment: (p) => ({ resourceType: 'Appointment', status: 'proposed', participant: [{ actor: ref(`Patient/${p}`), status: 'needs-action' }] }),
  Coverage: (p) => ({ resourceType: 'Coverage', status: 'active', beneficiary: ref(`Patient/${p}`), payor: [ref('Organization/org1')] }),
  DiagnosticReport: (p) => ({ resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' }, subject: ref(`Patient/${p}`) }),
  AllergyIntolerance: (p) => ({ resourceType: 'AllergyIntolerance', patient: ref(`Patient/${p}`),
    clinicalStatus: cc('http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', 'active') }), // ait-1
  Procedure: (p) => ({ resourceType: 'Procedure', status: 'completed', subject: ref(`Patient/${p}`) }),
  Immunization: (p) => ({ resourceType: 'Immunization', status: 'completed', vaccineCode: { text: 'x' }, patient: ref(`Patient/${p}`), occurrenceDateTime: '2026-01-01' }),
  CarePlan: (p) => ({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: ref(`Patient/${p}`) }),
  Specimen: (p) => ({ resourceType: 'Specimen', subject: ref(`Patient/${p}`) }),
  ServiceRequest: (p) => ({ resourceType: 'ServiceRequest', status: 'draft', intent: 'order', subject: ref(`Patient/${p}`) }),
  Account: (p) => ({ resourceType: 'Account', status: 'active', subject: [ref(`Patient/${p}`)] }),
  Consent: (p) => ({ resourceType: 'Consent', status: 'active', scope: cc('http://terminology.hl7.org/CodeSystem/consentscope', 'patient-privacy'),
    category: [cc('http://loinc.org', '59284-0')], patient: ref(`Patient/${p}`), policyRule: cc('http://terminology.hl7.org/CodeSystem/v3-ActCode', 'OPTIN') }),
  Practitioner: () => ({ resourceType: 'Practitioner', name: [{ family: 'Matrix' }] }),
  Organization: () => ({ resourceType: 'Organization', name: 'Matrix' }),
  Medication: () => ({ resourceType: 'Medication', code: { text: 'x' } }),
  Location: () => ({ resourceType: 'Location', name: 'Matrix' }),
};
const OUTSIDE = new Set(['Practitioner', 'Organization', 'Medication', 'Location']); // in no patient's compartment

const put = async (r: Record<string, unknown>) => {
  const res = await s.request('PUT', `${r.resourceType}/${r.id}`, { body: r });
  if (res.statusCode >= 300) throw new Error(`${r.resourceType}/${r.id}: ${res.body}`);
};
const create = async (r: Record<string, unknown>) => {
  const res = await s.request('POST', String(r.resourceType), { body: r });
  if (res.statusCode !== 201) throw new Error(`${r.resourceType}: ${res.body}`);
  return (res.json() as { id: string }).id;
};

// The related patient has an Encounter with the clinicians' Practitioner; the other patient has nothing to do with them.
await put({ resourceType: 'Practitioner', id: 'me', name: [{ family: 'Me' }] });
await put({ resourceType: 'Organization', id: 'org1', name: 'Payer' });
/**
 * related: through an Encounter; unrelated; glass: unrelated, but the clinicians broke the glass for them; denied:
 * related too, but their Consent denies everything to Practitioner/me.
 */
const PATIENTS = { related: 'pr', unrelated: 'pu', glass: 'pg', denied: 'pd' } as const;
type Relation = keyof typeof PATIENTS;
for (const id of Object.values(PATIENTS)) await put({ ...MAKE.Patient!(''), id });
await put({ ...MAKE.Encounter!('pr'), id: 'link', participant: [{ individual: ref('Practitioner/me') }] });
await put({ ...MAKE.Encounter!('pd'), id: 'link-d', participant: [{ individual: ref('Practitioner/me') }] });
await put({ ...MAKE.Consent!('pd'), id: 'withheld', policyRule: undefined, policy: [{ uri: 'https://clinic.example/privacy' }],
  provision: { type: 'deny', actor: [{ role: cc('http://terminology.hl7.org/CodeSystem/v3-ParticipationType', 'IRCP'), reference: ref('Practitioner/me') }] } });
/** The fixture of each (type, patient): an id whose version 1 exists. */
const fixture = new Map<string, string>();
for (const [type, make] of Object.entries(MAKE)) {
  for (const p of OUTSIDE.has(type) ? ['pr'] : Object.values(PATIENTS)) {
    const id = type === 'Patient' ? p : `${type.toLowerCase()}-${p}`;
    if (type !== 'Patient') await put({ ...make(p), id });
    fixture.set(`${type}/${p}`, id);
  }
}

const tokens = new Map<string, Record<string, string>>();
for (const role of Object.keys(ROLES)) {
  const fhirUser = role === 'patient' ? 'Patient/pr' : 'Practitioner/me';
  tokens.set(role, await userToken(s, await addUser(s, `matrix-${role}`, fhirUser, [role]), fhirUser));
  const opened = await s.request('POST', 'Patient/pg/$break-the-glass', { headers: tokens.get(role)!,
    body: { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: 'Emergency admission' }] } });
  if (opened.statusCode !== (ROLES[role]!.glass ? 200 : 403)) throw new Error(`${role} $break-the-glass: ${opened.statusCode} ${opened.body}`);
}

type Outcome = 'ok' | 'refused' | 'hidden' | 'empty';
const INTERACTIONS = ['read', 'vread', 'history', 'search', 'update', 'create', 'delete'] as const;
type Interaction = typeof INTERACTIONS[number];
const PERM: Record<Interaction, string> = { read: 'r', vread: 'r', history: 'r', search: 's', update: 'u', create: 'c', delete: 'd' };

/** The model: what the role may do to the type's record of a patient related or not, withheld by Consent or not. */
function expected(role: string, type: string, relation: Relation, interaction: Interaction): Outcome {
  // Creating and deleting a Patient works on a new one: nobody's related patient, and bound by no Consent.
  if (type === 'Patient' && relation === 'denied' && (interaction === 'create' || interaction === 'delete')) relation = 'unrelated';
  if (!permits(role, type, PERM[interaction])) return 'refused';
  const confined = ROLES[role]!.related && !OUTSIDE.has(type);
  // The denied patient is related to Practitioner/me, the user of every role but the patient's (who is Patient/pr).
  const reaches = relation === 'related' || (relation === 'denied' && role !== 'patient') || (relation === 'glass' && ROLES[role]!.glass === true);
  const reachable = !confined || (reaches && !(interaction === 'create' && type === 'Patient'));
  // The Consent names Practitioner/me (every role's user but the patient's), binds the patient's record but not
  // Consents, and binds reading and changing what is there, not creating.
  const withheld = relation === 'denied' && role !== 'patient' && !OUTSIDE.has(type) && type !== 'Consent' && interaction !== 'create';
  if (reachable && !withheld) return 'ok';
  if (interaction === 'search') return 'empty';
  return ['read', 'vread', 'history'].includes(interaction) ? 'hidden' : 'refused';
}

async function ask(role: string, type: string, relation: Relation, interaction: Interaction): Promise<Outcome> {
  const headers = tokens.get(role)!;
  const p = PATIENTS[relation];
  const id = fixture.get(`${type}/${OUTSIDE.has(type) ? 'pr' : p}`)!;
  const of = (status: number, okStatus: number[]): Outcome => (okStatus.includes(status) ? 'ok'
    : status === 403 ? 'refused' : status === 404 ? 'hidden' : (() => { throw new Error(`${role} ${interaction} ${type}/${id}: ${status}`); })());
  switch (interaction) {
    case 'read': return of((await s.request('GET', `${type}/${id}`, { headers })).statusCode, [200]);
    case 'vread': return of((await s.request('GET', `${type}/${id}/_history/1`, { headers })).statusCode, [200]);
    case 'history': return of((await s.request('GET', `${type}/${id}/_history`, { headers })).statusCode, [200]);
    case 'search': {
      const res = await s.request('GET', `${type}?_id=${id}`, { headers });
      if (res.statusCode !== 200) return of(res.statusCode, []);
      return ((res.json() as { entry?: unknown[] }).entry ?? []).length === 1 ? 'ok' : 'empty';
    }
    case 'update': {
      const current = (await s.request('GET', `${type}/${id}`)).json() as Record<string, unknown>;
      return of((await s.request('PUT', `${type}/${id}`, { headers, body: { ...current, meta: undefined } })).statusCode, [200]);
    }
    case 'create': return of((await s.request('POST', type, { headers, body: MAKE[type]!(p) })).statusCode, [201]);
    case 'delete': {
      const fresh = type === 'Patient' && relation === 'related' ? 'pr' : await create(MAKE[type]!(p));
      if (fresh === 'pr') return of((await s.request('DELETE', `Patient/nonexistent-${role}`, { headers })).statusCode, [200, 204]) === 'refused'
        ? 'refused' : expected(role, type, relation, interaction); // never delete the related patient itself
      return of((await s.request('DELETE', `${type}/${fresh}`, { headers })).statusCode, [200, 204]);
    }
  }
}

t.test('every cell of roles × types × interactions × related/unrelated/break-the-glass/consent-denied patients', async (t) => {
  let requests = 0;
  const leaks: string[] = [];
  const refusals: string[] = [];
  for (const role of Object.keys(ROLES)) {
    for (const type of Object.keys(MAKE)) {
      if (role === 'patient' && OUTSIDE.has(type)) continue; // a patient reads those only as their record references them
      for (const relation of OUTSIDE.has(type) ? ['related'] as const : ['related', 'unrelated', 'glass', 'denied'] as const) {
        for (const interaction of INTERACTIONS) {
          const want = expected(role, type, relation, interaction);
          const got = await ask(role, type, relation, interaction);
          requests++;
          const cell = `${role} ${interaction} ${type} (${relation}): expected ${want}, got ${got}`;
          if (got === want) continue;
          if (got === 'ok' || (got === 'empty' && want !== 'ok') || (got === 'hidden' && want === 'refused')) {
            if (got === 'ok') leaks.push(cell); else refusals.push(cell);
          } else refusals.push(cell);
        }
      }
    }
  }
  t.ok(requests >= 2000, `${requests} cells asked`);
  t.same(leaks, [], '0 leaks');
  t.same(refusals, [], '0 wrongful refusals');
});
