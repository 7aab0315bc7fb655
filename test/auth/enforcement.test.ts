/**
 * Scope enforcement on the FHIR API (smart-app-launch.md §8, §9): 401 without a valid token, 403 for interactions no
 * scope allows (before any data is read), patient/ scopes confined to the launch patient's compartment everywhere —
 * search, _include/_revinclude, reads, history, writes, batch/transaction, $everything — and query-restricted scopes.
 */
import t from 'tap';
import { revokeGrant } from '../../src/auth/grants.js';
import { decodeJwt } from '../../src/auth/jws.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);

const LAB = { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' };
const VITAL = { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' };
const obs = (id: string, patient: string, category: typeof LAB, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation', id, status: 'final', category: [{ coding: [category] }],
  code: { text: id }, subject: { reference: `Patient/${patient}` }, ...extra,
});

async function put(resource: { resourceType: string; id: string }) {
  const res = await s.request('PUT', `${resource.resourceType}/${resource.id}`, { body: resource });
  if (res.statusCode >= 300) throw new Error(`seed ${resource.resourceType}/${resource.id}: ${res.body}`);
}

for (const r of [
  { resourceType: 'Patient', id: 'alice', name: [{ family: 'Alpha' }] },
  { resourceType: 'Patient', id: 'bob', name: [{ family: 'Beta' }] },
  { resourceType: 'Practitioner', id: 'doc', name: [{ family: 'Doc' }] },
  { resourceType: 'Medication', id: 'med-a', code: { text: 'a' } },
  { resourceType: 'Medication', id: 'med-b', code: { text: 'b' } },
  obs('a-lab', 'alice', LAB, { performer: [{ reference: 'Practitioner/doc' }] }),
  obs('a-vital', 'alice', VITAL),
  obs('b-lab', 'bob', LAB),
  { resourceType: 'MedicationRequest', id: 'a-rx', status: 'active', intent: 'order', subject: { reference: 'Patient/alice' },
    medicationReference: { reference: 'Medication/med-a' } },
  { resourceType: 'MedicationRequest', id: 'b-rx', status: 'active', intent: 'order', subject: { reference: 'Patient/bob' },
    medicationReference: { reference: 'Medication/med-b' } },
]) await put(r);

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const as = async (scope: string, context: { patient?: string; fhirUser?: string } = {}) => {
  const token = await s.token(scope, { context });
  return (method: string, path: string, body?: unknown, contentType?: string) => s.request(method, path, {
    headers: { authorization: `Bearer ${token}`, ...(contentType ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { body } : {}) });
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ids = (bundle: any, mode = 'match'): string[] =>
  (bundle.entry ?? []).filter((e: { search?: { mode?: string } }) => (e.search?.mode ?? 'match') === mode)
    .map((e: { resource: { resourceType: string; id: string } }) => `${e.resource.resourceType}/${e.resource.id}`).sort();

t.test('401 without a valid token; /metadata stays public', async (t) => {
  const none = await s.request('GET', 'Patient', { auth: false });
  t.equal(none.statusCode, 401);
  t.equal(none.headers['www-authenticate'], 'Bearer realm="fhir"');
  t.equal(none.json().resourceType, 'OperationOutcome');
  t.equal((await s.request('GET', 'metadata', { auth: false })).statusCode, 200);

  const garbage = await s.request('GET', 'Patient', { headers: { authorization: 'Bearer not-a-jwt' } });
  t.equal(garbage.statusCode, 401);
  t.match(garbage.headers['www-authenticate'], /error="invalid_token"/);
  t.equal((await s.request('GET', 'Patient', { headers: { authorization: 'Basic abc' } })).statusCode, 401);

  const token = await s.token('system/*.rs');
  const [h, c] = token.split('.');
  const forged = `${h}.${c}.${Buffer.from('x'.repeat(256)).toString('base64url')}`;
  t.equal((await s.request('GET', 'Patient', bearer(forged))).statusCode, 401, 'bad signature');
  const claims = JSON.parse(Buffer.from(c!, 'base64url').toString()) as Record<string, unknown>;
  const widened = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'system/*.cruds' })).toString('base64url')}.${token.split('.')[2]}`;
  t.equal((await s.request('GET', 'Patient', bearer(widened))).statusCode, 401, 'edited claims');

  const other = await s.newTenant();
  const foreign = await s.token('system/*.rs', { slug: other });
  const cross = await s.request('GET', 'Patient/alice', bearer(foreign));
  t.equal(cross.statusCode, 401, "another tenant's token is refused");
  t.match(cross.headers['www-authenticate'], /another server or tenant/);
  t.equal((await s.request('GET', `/fhir/${other}/Patient`, bearer(foreign))).statusCode, 200);
  t.equal((await s.request('GET', '/fhir/no-such-tenant/Patient', { auth: false })).statusCode, 404, 'unknown tenant, no token');
  t.equal((await s.request('GET', '/fhir/no-such-tenant/Patient', bearer(foreign))).statusCode, 401, "a token names its tenant's base");
});

t.test('expired and revoked tokens → 401', async (t) => {
  const token = await s.token('system/*.rs', { ttl: 60 });
  t.equal((await s.request('GET', 'Patient/alice', bearer(token))).statusCode, 200);
  const realNow = s.deps.auth.now;
  s.deps.auth.now = () => new Date(realNow().getTime() + 10 * 60_000);
  try {
    const res = await s.request('GET', 'Patient/alice', bearer(token));
    t.equal(res.statusCode, 401);
    t.match(res.headers['www-authenticate'], /expired/);
  } finally {
    s.deps.auth.now = realNow;
  }
  const grant = decodeJwt(token).claims.grant as string;
  const tenant = (await s.deps.db.query<{ schema_name: string }>(
    (await import('../../src/db/sql.js')).sql`SELECT schema_name FROM hearth.tenant WHERE slug = ${s.slug}`))[0]!;
  await revokeGrant(s.deps.db, tenant.schema_name, grant, new Date());
  const revoked = await s.request('GET', 'Patient/alice', bearer(token));
  t.equal(revoked.statusCode, 401);
  t.match(revoked.headers['www-authenticate'], /revoked/);
});

t.test('403 insufficient_scope before data is touched, the same for existing and missing resources', async (t) => {
  const req = await as('user/Observation.rs');
  const existing = await req('GET', 'Patient/alice');
  const missing = await req('GET', 'Patient/nobody');
  t.equal(existing.statusCode, 403);
  t.equal(missing.statusCode, 403);
  t.same(existing.json().issue, missing.json().issue, 'no existence leak');
  t.equal(existing.json().issue[0].code, 'forbidden');
  t.match(existing.headers['www-authenticate'], /error="insufficient_scope"/);
  t.equal((await req('GET', 'Observation/a-lab')).statusCode, 200);
  t.equal((await req('POST', 'Observation', obs('x', 'alice', LAB))).statusCode, 403, 'read does not imply write');
  t.equal((await req('GET', 'Patient?name=Alpha')).statusCode, 403);
  t.equal((await req('GET', 'Observation?subject.name=Alpha')).statusCode, 403, 'a chain into a type the token cannot search');
  t.equal((await req('GET', 'Observation?_has:DiagnosticReport:result:status=final')).statusCode, 403);

  const writeOnly = await as('user/Observation.c');
  t.equal((await writeOnly('GET', 'Observation/a-lab')).statusCode, 403, 'c cannot read');
  const v1 = await as('user/Observation.read');
  t.equal((await v1('GET', 'Observation?code=a-lab')).statusCode, 200, 'v1 .read allows search');
  t.equal((await v1('DELETE', 'Observation/a-lab')).statusCode, 403, 'v1 .read does not allow delete');
  const v1write = await as('user/Observation.write');
  t.equal((await v1write('GET', 'Observation/a-lab')).statusCode, 403, 'v1 .write does not allow read');
  const bad = await as('user/Observation.dus');
  t.equal((await bad('GET', 'Observation/a-lab')).statusCode, 403, 'out-of-order letters grant nothing');
});

t.test('patient/ scopes: reads and searches confined to the launch patient', async (t) => {
  const req = await as('patient/*.rs', { patient: 'alice' });
  t.equal((await req('GET', 'Patient/alice')).statusCode, 200);
  t.equal((await req('GET', 'Patient/bob')).statusCode, 404, 'another patient: 404, no existence leak');
  t.equal((await req('GET', 'Observation/b-lab')).statusCode, 404);
  t.equal((await req('GET', 'Observation/b-lab/_history/1')).statusCode, 404, 'vread');
  t.equal((await req('GET', 'Observation/b-lab/_history')).statusCode, 404, 'instance history');
  t.equal((await req('GET', 'Observation/a-lab/_history/1')).statusCode, 200);

  t.same(ids((await req('GET', 'Observation')).json()), ['Observation/a-lab', 'Observation/a-vital']);
  t.same(ids((await req('GET', 'Patient')).json()), ['Patient/alice']);
  t.same(ids((await req('GET', 'Observation?subject=Patient/bob')).json()), [], 'asking for bob finds nothing');
  t.same(ids((await req('GET', '?_type=Observation,Patient')).json()), ['Observation/a-lab', 'Observation/a-vital', 'Patient/alice']);
  t.same(ids((await req('GET', 'Patient/bob/Observation')).json()), [], 'compartment search of another patient');
  const rev = (await req('GET', 'Medication?_revinclude=MedicationRequest:medication')).json();
  t.same(ids(rev), ['Medication/med-a', 'Medication/med-b'], 'non-compartment types are searchable');
  t.same(ids(rev, 'include'), ['MedicationRequest/a-rx'], "_revinclude never brings bob's data");
  const inc = (await req('GET', 'MedicationRequest?_include=MedicationRequest:subject')).json();
  t.same(ids(inc), ['MedicationRequest/a-rx']);
  t.same(ids(inc, 'include'), ['Patient/alice']);
  t.equal((await req('GET', 'Medication/med-a')).statusCode, 200, "read of a Medication alice's data refers to");
  t.equal((await req('GET', 'Medication/med-b')).statusCode, 404, "a Medication only bob's data refers to");
  const hist = (await req('GET', 'Observation/_history')).json();
  t.same([...new Set(ids(hist))], ['Observation/a-lab', 'Observation/a-vital'], 'type history');
  t.equal((await req('GET', 'Patient/bob/$everything')).statusCode, 404);
  const everything = (await req('GET', 'Patient/alice/$everything')).json();
  t.notOk([...ids(everything), ...ids(everything, 'include')].some((r: string) => /bob|b-/.test(r)), '$everything has only alice');
});

t.test('patient/ scopes: writes must stay in the compartment; batch and transaction entries are checked', async (t) => {
  const req = await as('patient/*.cruds', { patient: 'alice' });
  t.equal((await req('POST', 'Observation', obs('n1', 'alice', VITAL))).statusCode, 201);
  const foreign = await req('POST', 'Observation', obs('n2', 'bob', VITAL));
  t.equal(foreign.statusCode, 403, 'create for another patient');
  t.equal((await req('PUT', 'Observation/b-lab', obs('b-lab', 'alice', LAB))).statusCode, 403, "taking over bob's resource");
  t.equal((await req('PUT', 'Observation/a-lab', obs('a-lab', 'bob', LAB))).statusCode, 403, 'moving a resource out');
  t.equal((await req('DELETE', 'Observation/b-lab')).statusCode, 403);
  t.equal((await req('PATCH', 'Observation/b-lab', [{ op: 'replace', path: '/status', value: 'amended' }], 'application/json-patch+json')).statusCode, 403);
  t.equal((await req('POST', 'Medication', { resourceType: 'Medication' })).statusCode, 403, 'non-compartment types are not written');
  t.equal((await req('POST', 'Patient', { resourceType: 'Patient' })).statusCode, 403);
  const admin = await s.request('GET', 'Observation/b-lab');
  t.equal(admin.json().subject.reference, 'Patient/bob', "bob's observation is untouched");

  const tx = await req('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [
    { fullUrl: 'urn:uuid:6b7f2ad0-1c58-4c3b-9b59-0d5c0e9a4a01', resource: obs('ignored', 'alice', VITAL), request: { method: 'POST', url: 'Observation' } },
    { resource: obs('tx-bob', 'bob', VITAL), request: { method: 'PUT', url: 'Observation/tx-bob' } },
  ] });
  t.equal(tx.statusCode, 403, 'a transaction with one unauthorised entry fails');
  t.equal((await s.request('GET', 'Observation/tx-bob')).statusCode, 404, 'nothing of it was written');
  const batch = await req('POST', '', { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: 'Observation/a-lab' } },
    { request: { method: 'GET', url: 'Observation/b-lab' } },
    { resource: obs('bt-bob', 'bob', VITAL), request: { method: 'PUT', url: 'Observation/bt-bob' } },
  ] });
  t.equal(batch.statusCode, 200);
  t.same(batch.json().entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3)), ['200', '404', '403']);
});

t.test('query-restricted v2 scopes narrow search, read, _include and writes', async (t) => {
  const req = await as(`user/Observation.cruds?category=${LAB.system}|${LAB.code} user/Patient.rs`,
    { fhirUser: 'Practitioner/doc' });
  t.same(ids((await req('GET', 'Observation')).json()), ['Observation/a-lab', 'Observation/b-lab']);
  t.equal((await req('GET', 'Observation/a-lab')).statusCode, 200);
  t.equal((await req('GET', 'Observation/a-vital')).statusCode, 403, 'non-matching read → 403');
  const rev = (await req('GET', 'Patient?_id=alice&_revinclude=Observation:subject')).json();
  t.same(ids(rev, 'include'), ['Observation/a-lab'], 'no vital-signs leak through _revinclude');
  t.equal((await req('POST', 'Observation', obs('q1', 'alice', VITAL))).statusCode, 403, 'write outside the constraint');
  t.equal((await req('POST', 'Observation', obs('q2', 'alice', LAB))).statusCode, 201);
  t.equal((await req('PUT', 'Observation/a-vital', obs('a-vital', 'alice', LAB))).statusCode, 403, 'cannot re-categorise into view');
});

t.test('a patient user with user/ scopes sees only their own record', async (t) => {
  const req = await as('user/*.rs', { fhirUser: 'Patient/bob' });
  t.same(ids((await req('GET', 'Observation')).json()), ['Observation/b-lab']);
  t.equal((await req('GET', 'Patient/alice')).statusCode, 404);
});

t.test('$reindex needs an administrative scope', async (t) => {
  const req = await as('user/*.rs');
  t.equal((await req('POST', 'Observation/$reindex')).statusCode, 403);
});
