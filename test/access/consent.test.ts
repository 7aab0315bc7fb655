/**
 * Consent enforcement (issue #16 §3): active patient-privacy Consents decide what each request reaches, on every path
 * (read, search, includes, chains, _has, history, $everything, batch, bulk export), with the tenant's default where no
 * Consent decides, and the AuditEvent records the decision.
 */
import t from 'tap';
import { storedAuditEvents } from '../helpers/audit.js';
import { ident, sql } from '../../src/db/sql.js';
import { sealedAuditColumns } from '../../src/db/vault.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { resourcesByType, runExport } from '../bulk/helpers.js';
import { startServer } from '../helpers/server.js';
import { fixClock } from '../helpers/smart.js';
import { ADMIN, addUser, userToken } from './helpers.js';

const s = await startServer(t);
const schema = schemaFor(s.slug);
const put = async (r: Record<string, unknown>) => {
  const res = await s.request('PUT', `${r.resourceType}/${r.id}`, { body: r });
  if (res.statusCode >= 300) throw new Error(`${r.resourceType}/${r.id}: ${res.body}`);
};
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const privacy = (id: string, patient: string, provision: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Consent', id, status: 'active', patient: { reference: `Patient/${patient}` },
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  // ppc-1 (issue #15 §3): a policy or a policyRule; a policy URI leaves the rules to the provisions.
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }], policy: [{ uri: 'https://clinic.example/privacy' }], provision, ...extra });
const RECIPIENT = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] };
const actor = (reference: string) => ({ role: RECIPIENT, reference: { reference } });

// A role without a relationship rule, so that only Consents narrow what its holders see.
const role = await s.request('PUT', `/admin/tenants/${s.slug}/roles/clinician`, { headers: ADMIN,
  body: { scopes: 'user/*.cruds', breakGlass: true, relationship: ['encounter', 'care-team', 'general-practitioner', 'appointment', 'episode-of-care', 'organization'] } });
if (role.statusCode !== 200) throw new Error(role.body);
const open = await s.request('PUT', `/admin/tenants/${s.slug}/roles/physician`, { headers: ADMIN, body: { scopes: 'user/*.cruds' } });
if (open.statusCode !== 200) throw new Error(open.body);

for (const id of ['d1', 'd2', 'd3', 'psy']) await put({ resourceType: 'Practitioner', id });
await put({ resourceType: 'Organization', id: 'o1', name: 'Clinic' });
await put({ resourceType: 'PractitionerRole', id: 'pr3', practitioner: { reference: 'Practitioner/d3' }, organization: { reference: 'Organization/o1' } });
for (const id of ['p1', 'p2', 'p3', 'p4']) {
  await put({ resourceType: 'Patient', id, generalPractitioner: [{ reference: 'Practitioner/d1' }] });
  await put({ resourceType: 'Observation', id: `o-${id}`, status: 'final', code: { text: 'pulse' }, subject: { reference: `Patient/${id}` },
    performer: [{ reference: 'Practitioner/d1' }] });
  await put({ resourceType: 'Encounter', id: `e-${id}`, status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${id}` } });
}
const PSY = { system: ACT, code: 'PSY' };
await put({ resourceType: 'Condition', id: 'c-psy', meta: { security: [PSY] }, subject: { reference: 'Patient/p2' }, code: { text: 'depression' },
  asserter: { reference: 'Practitioner/psy' } });
await put({ resourceType: 'Condition', id: 'c-flu', subject: { reference: 'Patient/p2' }, code: { text: 'influenza' } });

const tokenOf = async (name: string, fhirUser: string, roles: string[], scope?: string) =>
  userToken(s, await addUser(s, name, fhirUser, roles), fhirUser, scope);
const d1 = await tokenOf('d1', 'Practitioner/d1', ['physician']);
const d2 = await tokenOf('d2', 'Practitioner/d2', ['physician']);
const d3 = await tokenOf('d3', 'Practitioner/d3', ['physician']);
const psy = await tokenOf('psy', 'Practitioner/psy', ['physician']);
const er = await tokenOf('er', 'Practitioner/d2', ['clinician']);
const patient4 = await tokenOf('pat4', 'Patient/p4', ['patient']);

type Bundle = { entry?: { resource: { resourceType: string; id: string } }[] };
const ids = async (path: string, headers: Record<string, string>, method = 'GET', body?: unknown) => {
  const res = await s.request(method, path, { headers, ...(body ? { body } : {}) });
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${res.body}`);
  return ((res.json() as Bundle).entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
};
const status = async (path: string, headers: Record<string, string>) => (await s.request('GET', path, { headers })).statusCode;

await put(privacy('deny-d2', 'p1', { type: 'deny', actor: [actor('Practitioner/d2')] }));

t.test('a deny of everything to one practitioner hides the record on every path, for them only', async (t) => {
  t.equal(await status('Patient/p1', d2), 404, 'read → 404');
  t.equal(await status('Observation/o-p1', d2), 404);
  t.equal(await status('Observation/o-p1/_history/1', d2), 404, 'vread');
  t.equal(await status('Observation/o-p1/_history', d2), 404, 'instance history');
  t.equal(await status('Patient/p1/$everything', d2), 404, '$everything of the patient');
  t.same(await ids('Observation?code:text=pulse', d2), ['Observation/o-p2', 'Observation/o-p3', 'Observation/o-p4'], 'search');
  t.same(await ids('Observation?subject.gender:missing=true', d2), ['Observation/o-p2', 'Observation/o-p3', 'Observation/o-p4'], 'chain');
  t.same(await ids('Patient?_has:Observation:subject:code:text=pulse', d2), ['Patient/p2', 'Patient/p3', 'Patient/p4'], '_has');
  t.same(await ids('Encounter?_id=e-p1,e-p2&_include=Encounter:subject', d2), ['Encounter/e-p2', 'Patient/p2'], 'includes');
  t.same(await ids('Patient?_id=p1,p2&_revinclude=Observation:subject', d2), ['Observation/o-p2', 'Patient/p2'], 'revincludes');
  t.notOk((await ids('Observation/_history', d2)).includes('Observation/o-p1'), 'type history');
  const batch = await s.request('POST', '', { headers: d2, body: { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: 'Patient/p1' } }, { request: { method: 'GET', url: 'Observation?subject=Patient/p1' } }] } });
  const entries = (batch.json() as { entry: { response: { status: string }; resource?: Bundle }[] }).entry;
  t.match(entries[0]!.response.status, /^404/, 'batch read entry');
  t.same(entries[1]!.resource?.entry ?? [], [], 'batch search entry');
  t.equal((await s.request('PUT', 'Observation/o-p1', { headers: d2, body: { resourceType: 'Observation', id: 'o-p1', status: 'final',
    code: { text: 'pulse' }, subject: { reference: 'Patient/p1' } } })).statusCode, 403, 'no update of a withheld resource');
  t.equal((await s.request('DELETE', 'Observation/o-p1', { headers: d2 })).statusCode, 403, 'no delete either');

  t.equal(await status('Patient/p1', d1), 200, 'another practitioner reads it');
  const everything = await ids('Patient/p1/$everything', d1);
  t.ok(['Patient/p1', 'Observation/o-p1', 'Encounter/e-p1', 'Consent/deny-d2'].every((r) => everything.includes(r)), '$everything for others');
});

t.test('a Bulk export leaves out what the Consents withhold from its kick-off user', async (t) => {
  const done = await runExport(s, '$export?_type=Patient,Observation', { headers: d2 });
  const byType = resourcesByType(done);
  const patients = (byType.get('Patient') ?? []).map((r) => r.id).sort();
  t.notOk(patients.includes('p1'), `no Patient/p1 (${patients.join()})`);
  t.ok(patients.includes('p2'));
  const observations = (byType.get('Observation') ?? []).map((r) => r.id).sort();
  t.notOk(observations.includes('o-p1'), `no Observation of p1 (${observations.join()})`);
  t.ok(observations.includes('o-p2'));
  const other = resourcesByType(await runExport(s, '$export?_type=Observation', { headers: d1 }));
  t.ok((other.get('Observation') ?? []).some((r) => r.id === 'o-p1'), 'another user\'s export holds it');
});

t.test('the AuditEvent records the consent decision', async (t) => {
  const rows = (await s.deps.db.query<{ content: { entity: { what?: { reference?: string }; detail?: { valueString?: string }[] }[];
    outcome: string } }>(sql`SELECT ${sealedAuditColumns(schema)} FROM ${ident(schema)}.audit_event e`))
    .filter((r) => r.content.entity.some((e) => e.what?.reference === 'Consent/deny-d2'));
  t.ok(rows.length >= 5, `the withheld requests name the Consent (${rows.length})`);
  const entity = rows[0]!.content.entity.find((e) => e.what?.reference === 'Consent/deny-d2')!;
  t.equal(entity.detail?.[0]?.valueString, 'deny', 'with its decision');
  const d1Events = (await storedAuditEvents(s.deps.db, schema)).filter((e) =>
    e.entity?.some((x: { what?: { reference?: string } }) => x.what?.reference === 'Consent/deny-d2')
    && e.agent?.some((a: { who?: { reference?: string } }) => a.who?.reference === 'Practitioner/d1'));
  t.equal(d1Events.length, 0, 'requests the Consent does not bind do not name it');
});

t.test('a deny of one class by security label to everyone but the author', async (t) => {
  await put(privacy('psy-only', 'p2', { type: 'permit', provision: [{ type: 'deny', class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Condition' }],
    securityLabel: [PSY], provision: [{ type: 'permit', actor: [actor('Practitioner/psy')] }] }] }));
  t.same(await ids('Condition?subject=Patient/p2', d1), ['Condition/c-flu'], 'others see the unlabelled condition only');
  t.equal(await status('Condition/c-psy', d1), 404);
  t.same(await ids('Patient/p2/$everything', d1), ['Condition/c-flu', 'Consent/psy-only', 'Encounter/e-p2', 'Observation/o-p2', 'Patient/p2',
    'Practitioner/d1', 'Practitioner/psy'], '$everything leaves it out');
  t.same(await ids('Condition?subject=Patient/p2', psy), ['Condition/c-flu', 'Condition/c-psy'], 'the author sees both');
  t.equal(await status('Condition/c-psy', psy), 200);
  t.equal(await status('Observation/o-p2', d1), 200, 'the rest of the record is untouched');
});

t.test('actors named through an organization or the app', async (t) => {
  await put(privacy('deny-org', 'p3', { type: 'deny', actor: [actor('Organization/o1')] }));
  t.equal(await status('Patient/p3', d3), 404, 'a practitioner whose PractitionerRole works for the organization');
  t.equal(await status('Patient/p3', d1), 200);
  await put(privacy('deny-org', 'p3', { type: 'deny', actor: [{ role: RECIPIENT,
    reference: { identifier: { system: 'http://hearth.dev/fhir/sid/client-id', value: 'test-app' } } }] }));
  t.equal(await status('Patient/p3', d1), 404, 'an app named by its client id');
  t.equal(await status('Patient/p3', d3), 404);
  await put({ resourceType: 'CareTeam', id: 'team', participant: [{ member: { reference: 'Practitioner/d1' } }] });
  await put(privacy('deny-org', 'p3', { type: 'deny', actor: [actor('CareTeam/team')] }));
  t.equal(await status('Patient/p3', d1), 404, 'a member of the CareTeam');
  t.equal(await status('Patient/p3', d3), 200, 'not others');
  t.ok((await s.request('DELETE', 'Consent/deny-org')).statusCode < 300);
  t.equal(await status('Patient/p3', d1), 200, 'deleting the Consent restores access at once');
});

t.test('data references: one instance, or an instance and what it refers to', async (t) => {
  await put({ resourceType: 'DiagnosticReport', id: 'dr3', status: 'final', code: { text: 'hiv' }, subject: { reference: 'Patient/p3' },
    result: [{ reference: 'Observation/o-p3' }] });
  await put(privacy('deny-data', 'p3', { type: 'deny', data: [{ meaning: 'instance', reference: { reference: 'DiagnosticReport/dr3' } }] }));
  t.equal(await status('DiagnosticReport/dr3', d1), 404, 'the instance');
  t.equal(await status('Observation/o-p3', d1), 200, 'not what it refers to');
  await put(privacy('deny-data', 'p3', { type: 'deny', data: [{ meaning: 'related', reference: { reference: 'DiagnosticReport/dr3' } }] }));
  t.equal(await status('Observation/o-p3', d1), 404, 'related: also what it refers to');
  t.equal(await status('Encounter/e-p3', d1), 200, 'and nothing else');
  t.ok((await s.request('DELETE', 'Consent/deny-data')).statusCode < 300);
});

t.test('the patient is not bound by their own Consent; break-the-glass overrides one', async (t) => {
  await put(privacy('deny-all', 'p4', { type: 'deny' }));
  t.equal(await status('Observation/o-p4', d1), 404, 'a deny to everyone');
  t.equal(await status('Observation/o-p4', patient4), 200, 'but the patient reads their own record');
  t.equal(await status('Observation/o-p4', er), 404, 'an emergency role too, until it breaks the glass');
  const glass = await s.request('POST', 'Patient/p4/$break-the-glass', { headers: er,
    body: { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: 'Unconscious in the ED' }] } });
  t.equal(glass.statusCode, 200, glass.body);
  t.equal(await status('Observation/o-p4', er), 200, 'open for that patient');
  t.equal(await status('Patient/p1', er), 404, 'not for another');
});

t.test('opt-in tenants: nothing without a permit; a time-limited permit ends on time', async (t) => {
  const clock = fixClock(t, s, new Date());
  const set = await s.request('PUT', `/admin/tenants/${s.slug}/consent`, { headers: ADMIN, body: { default: 'opt-in' } });
  t.equal(set.statusCode, 200, set.body);
  t.teardown(async () => { await s.request('PUT', `/admin/tenants/${s.slug}/consent`, { headers: ADMIN, body: { default: 'opt-out' } }); });
  t.equal(await status('Patient/p3', d1), 404, 'no permit, no access');
  t.same(await ids('Practitioner?_id=d1', d1), ['Practitioner/d1'], 'what is nobody\'s record stays visible');
  const now = s.deps.auth.now().getTime();
  await put(privacy('permit-d1', 'p3', { type: 'permit', actor: [actor('Practitioner/d1')],
    period: { start: new Date(now - 3600_000).toISOString(), end: new Date(now + 600_000).toISOString() } }));
  t.equal(await status('Patient/p3', d1), 200, 'within the period');
  t.same(await ids('Observation?code:text=pulse', d1), ['Observation/o-p2', 'Observation/o-p3'],
    'only the permitted patients\' data (p2\'s Consent permits everyone)');
  t.equal(await status('Patient/p3', d3), 404, 'only for the named actor');
  clock.advance(20 * 60_000);
  t.equal(await status('Patient/p3', d1), 404, 'after the period');
  t.equal(await status('Observation/o-p4', patient4), 200, 'the patient still reads their own');
});

t.test('a Consent that cannot be evaluated is refused with 422 naming the part', async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ type: 'deny', code: [{ text: 'x' }] }, 'Consent.provision.code'],
    [{ type: 'permit', provision: [{ actor: [actor('Practitioner/d1')] }] }, 'Consent.provision.provision[0].type'],
    [{ type: 'deny', actor: [{ role: RECIPIENT, reference: { display: 'someone' } }] }, 'Consent.provision.actor[0].reference'],
    [{ type: 'deny', class: [{ system: 'urn:ietf:bcp:13', code: 'text/plain' }] }, 'Consent.provision.class[0]'],
    [{ type: 'deny', data: [{ meaning: 'authoredby', reference: { reference: 'Practitioner/d1' } }] }, 'Consent.provision.data[0].meaning'],
    [{ type: 'deny', purpose: [{ code: 'TREAT' }] }, 'Consent.provision.purpose[0]'],
  ];
  for (const [provision, part] of cases) {
    const res = await s.request('PUT', 'Consent/bad', { body: privacy('bad', 'p1', provision) });
    t.equal(res.statusCode, 422, part);
    t.same((res.json() as { issue: { expression?: string[] }[] }).issue[0]!.expression, [part]);
  }
  t.equal(await status('Consent/bad', d1), 404, 'nothing was written');
  const draft = await s.request('PUT', 'Consent/draft', { body: { ...privacy('draft', 'p1', { type: 'deny', code: [{ text: 'x' }] }), status: 'draft' } });
  t.equal(draft.statusCode, 201, 'a Consent that is not in force is stored as it is');
});

t.test('purpose of use: a provision naming a purpose binds only roles acting for it', async (t) => {
  const billing = await s.request('PUT', `/admin/tenants/${s.slug}/roles/billing-clerk`, { headers: ADMIN,
    body: { scopes: 'user/*.rs', purpose: ['HPAYMT'] } });
  t.equal(billing.statusCode, 200, billing.body);
  t.equal((await s.request('PUT', `/admin/tenants/${s.slug}/roles/x`, { headers: ADMIN, body: { scopes: 'user/*.rs', purpose: 'TREAT' } })).statusCode, 422);
  const clerk = await tokenOf('clerk', 'Practitioner/d3', ['billing-clerk']);
  await put(privacy('no-billing', 'p3', { type: 'deny', purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' }] }));
  t.equal(await status('Encounter/e-p3', clerk), 404, 'billing is refused');
  t.equal(await status('Encounter/e-p3', d1), 200, 'treatment is not');
});
