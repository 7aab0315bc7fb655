/**
 * The two forms of a role's relationship rule agree (auth/relationships.ts): the related set a writing request reads
 * up front, and the per-patient test a read-only statement evaluates — for every kind, for a Practitioner user (and
 * through their PractitionerRoles), a PractitionerRole user, and with deleted evidence.
 */
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { RELATIONSHIPS } from '../../src/auth/roles.js';
import { relatedPatients, relatedTest } from '../../src/auth/relationships.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const schema = schemaFor(s.slug);
const put = async (r: Record<string, unknown>) => {
  const res = await s.request('PUT', `${r.resourceType}/${r.id}`, { body: r });
  if (res.statusCode >= 300) throw new Error(`${r.resourceType}/${r.id}: ${res.body}`);
};
const ref = (reference: string) => ({ reference });

await put({ resourceType: 'Practitioner', id: 'd1' });
await put({ resourceType: 'Organization', id: 'org', name: 'Clinic' });
await put({ resourceType: 'PractitionerRole', id: 'role1', practitioner: ref('Practitioner/d1'), organization: ref('Organization/org') });
for (let i = 1; i <= 9; i++) await put({ resourceType: 'Patient', id: `p${i}` });
await put({ resourceType: 'CareTeam', id: 'ct', subject: ref('Patient/p1'), participant: [{ member: ref('PractitionerRole/role1') }] });
await put({ resourceType: 'Encounter', id: 'e', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/p2'),
  participant: [{ individual: ref('Practitioner/d1') }] });
await put({ resourceType: 'Appointment', id: 'a', status: 'booked', start: '2026-01-05T09:00:00Z', end: '2026-01-05T09:30:00Z', participant: [{ actor: ref('Patient/p3'), status: 'accepted' },
  { actor: ref('Practitioner/d1'), status: 'accepted' }] });
await put({ resourceType: 'EpisodeOfCare', id: 'eoc', status: 'active', patient: ref('Patient/p4'), careManager: ref('Practitioner/d1') });
await put({ resourceType: 'Patient', id: 'p5', generalPractitioner: [ref('PractitionerRole/role1')] });
await put({ resourceType: 'Patient', id: 'p6', managingOrganization: ref('Organization/org') });
await put({ resourceType: 'Encounter', id: 'gone', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/p7'),
  participant: [{ individual: ref('Practitioner/d1') }] });
if ((await s.request('DELETE', 'Encounter/gone')).statusCode >= 300) throw new Error('delete');

const tested = async (fhirUser: string, kinds: readonly string[]) => {
  const test = relatedTest(schema, fhirUser, kinds);
  if (!test) return [];
  return (await s.deps.db.query<{ id: string }>(sql`SELECT r.id FROM ${ident(schema)}.resource r
    WHERE r.type = 'Patient' AND NOT r.deleted AND ${test(sql`r.id`)} ORDER BY r.id`)).map((r) => r.id);
};

t.test('the related set and the per-patient test agree for every kind and user', async (t) => {
  const expected: Record<string, string[]> = { 'care-team': ['p1'], encounter: ['p2'], appointment: ['p3'], 'episode-of-care': ['p4'],
    'general-practitioner': ['p5'], organization: ['p6'] };
  for (const fhirUser of ['Practitioner/d1', 'PractitionerRole/role1']) {
    for (const kind of RELATIONSHIPS) {
      const listed = await relatedPatients(s.deps.db, schema, fhirUser, [kind]);
      t.same(await tested(fhirUser, [kind]), listed, `${fhirUser} ${kind}: ${listed.join()}`);
    }
    const all = await relatedPatients(s.deps.db, schema, fhirUser, RELATIONSHIPS);
    t.same(await tested(fhirUser, RELATIONSHIPS), all, `${fhirUser}, every kind: ${all.join()}`);
  }
  for (const kind of RELATIONSHIPS) {
    t.same(await relatedPatients(s.deps.db, schema, 'Practitioner/d1', [kind]), expected[kind], `Practitioner/d1 ${kind}`);
  }
  t.same(await tested('Practitioner/nobody', RELATIONSHIPS), [], 'a stranger is related to nobody');
  t.notOk((await tested('Practitioner/d1', ['encounter'])).includes('p7'), 'deleted evidence counts for nothing');
});
