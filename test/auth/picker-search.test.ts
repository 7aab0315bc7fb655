/**
 * The authorize page's patient and encounter pickers are ordinary FHIR searches (issue 13 §2): a name typed with LIKE
 * metacharacters (`%`, `_`, `\`) or FHIR search escapes is plain text, never a wildcard nor a 400.
 */
import t from 'tap';
import { encounterOfPatient, listEncounters, listPatients, patientExists } from '../../src/oauth/authorize.js';
import type { SearchDefinitions } from '../../src/storage/find.js';
import { findTenant } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const schema = (await findTenant(s.deps.db, s.slug))!.schema;
const search: SearchDefinitions = { registry: await s.deps.tenantSearch.registryFor(s.deps.db, schema), defs: s.deps.defs };

async function put(type: string, body: Record<string, unknown>) {
  const r = await s.request('PUT', `${type}/${body.id as string}`, { body: { resourceType: type, ...body } });
  if (r.statusCode !== 201) throw new Error(`seed ${type}/${body.id as string}: ${r.statusCode} ${r.body}`);
}

for (const [id, family] of [['zed', 'Zed'], ['pct', '100%Pure'], ['und', 'Snake_Case'], ['bsl', 'Back\\Slash'],
  ['dol', 'Dollar$Sign|Bar'], ['gone', 'Gone']]) await put('Patient', { id, name: [{ given: ['Any'], family }] });
await put('Patient', { id: 'nameless' });
if (![200, 204].includes((await s.request('DELETE', 'Patient/gone')).statusCode)) throw new Error('delete Patient/gone');
await put('Encounter', { id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/zed' },
  period: { start: '2020-01-01', end: '2020-01-01' } });
await put('Encounter', { id: 'e2', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/zed' },
  period: { start: '2023-06-01', end: '2023-06-01' } });

const ids = async (query: string) => (await listPatients(s.deps.db, schema, query, 50, search)).map((p) => p.id);

t.test('picker name search: LIKE metacharacters are literal, not wildcards', async (t) => {
  t.same(await ids('1%e'), [], "'%' matches no run of characters");
  t.same(await ids('Z_d'), [], "'_' matches no single character");
  t.same(await ids('100%'), ['pct'], "'%' is a word break, as in the index");
  t.same(await ids('snake_c'), ['und']);
  t.same(await ids('back\\sl'), ['bsl'], "'\\' is plain text, not a FHIR search escape (no 400)");
  t.same(await ids('dollar$sign|b'), ['dol'], "'$' and '|' are plain text");
  t.same(await ids('zed, any'), [], "',' does not split the name into alternatives");
});

t.test('picker without a name lists live patients by family name, nameless last', async (t) => {
  t.same(await ids(''), ['pct', 'bsl', 'dol', 'und', 'zed', 'nameless']);
  t.same(await ids('\\%_'), await ids(''), 'only punctuation → every patient');
  t.same((await listPatients(s.deps.db, schema, '', 2, search)).map((p) => p.id), ['pct', 'bsl'], 'at most limit');
  t.same((await listPatients(s.deps.db, schema, 'zed', 50, search))[0], { id: 'zed', name: 'Any Zed' });
});

t.test('patientExists: live patients only', async (t) => {
  t.equal(await patientExists(s.deps.db, schema, 'zed', search), true);
  t.equal(await patientExists(s.deps.db, schema, 'gone', search), false, 'deleted');
  t.equal(await patientExists(s.deps.db, schema, 'p404', search), false);
});

t.test('encounter picker: the patient\'s encounters, newest first; only theirs are accepted', async (t) => {
  t.same((await listEncounters(s.deps.db, schema, 'zed', 50, search)).map((e) => e.id), ['e2', 'e1']);
  t.same(await listEncounters(s.deps.db, schema, 'pct', 50, search), []);
  t.equal(await encounterOfPatient(s.deps.db, schema, 'zed', 'e1', search), true);
  t.equal(await encounterOfPatient(s.deps.db, schema, 'pct', 'e1', search), false);
});
