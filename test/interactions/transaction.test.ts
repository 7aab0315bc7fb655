import t from 'tap';
import { startServer } from '../helpers/server.js';

const tx = (entry: unknown[], type = 'transaction') => ({ resourceType: 'Bundle', type, entry });

t.test('transaction: urn:uuid references rewritten, responses in entry order, all written', async (t) => {
  const s = await startServer(t);
  const res = await s.request('POST', '', { body: tx([
    { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
      resource: { resourceType: 'Observation', status: 'final', code: { text: 'bp' },
        subject: { reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' } },
      request: { method: 'POST', url: 'Observation' } },
    { fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
      resource: { resourceType: 'Patient', name: [{ family: 'Circular' }],
        link: [{ type: 'seealso', other: { reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' } }],
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><a href="urn:uuid:11111111-1111-4111-8111-111111111111">obs</a></div>' } },
      request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Patient', id: 'fixed', link: [{ type: 'seealso', other: { reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' } }] },
      request: { method: 'PUT', url: 'Patient/fixed' } },
  ]) });
  t.equal(res.statusCode, 200);
  const out = res.json();
  t.equal(out.type, 'transaction-response');
  t.equal(out.entry.length, 3);
  t.same(out.entry.map((e: { response: { status: string } }) => e.response.status), ['201 Created', '201 Created', '201 Created']);
  const obsLoc = out.entry[0].response.location as string;
  const patLoc = out.entry[1].response.location as string;
  t.match(obsLoc, new RegExp(`^${s.url}/Observation/[0-9a-f-]{36}/_history/1$`));
  const patId = patLoc.split('/')[patLoc.split('/').length - 3];
  const obsId = obsLoc.split('/')[obsLoc.split('/').length - 3];
  const obs = (await s.request('GET', `Observation/${obsId}`)).json();
  t.equal(obs.subject.reference, `Patient/${patId}`, 'reference to a later entry rewritten');
  const pat = (await s.request('GET', `Patient/${patId}`)).json();
  t.equal(pat.link[0].other.reference, `Patient/${patId}`, 'self reference rewritten');
  t.match(pat.text.div, `href="Observation/${obsId}"`, 'narrative link rewritten');
  t.equal((await s.request('GET', 'Patient/fixed')).json().link[0].other.reference, `Patient/${patId}`);
});

t.test('transaction: any failing entry rolls back everything and answers one OperationOutcome', async (t) => {
  const s = await startServer(t);
  const res = await s.request('POST', '', { body: tx([
    { resource: { resourceType: 'Patient', id: 'rollback-me' }, request: { method: 'PUT', url: 'Patient/rollback-me' } },
    { resource: { resourceType: 'Patient', bogus: true }, request: { method: 'POST', url: 'Patient' } },
  ]) });
  t.equal(res.statusCode, 400);
  t.equal(res.json().resourceType, 'OperationOutcome');
  t.match(res.json().issue[0].diagnostics, /entry 1/);
  t.equal((await s.request('GET', 'Patient/rollback-me')).statusCode, 404, 'the valid entry was rolled back');

  const stale = await s.request('POST', '', { body: tx([
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
    { request: { method: 'DELETE', url: 'Patient/x' } },
    { resource: { resourceType: 'Patient', id: 'y' }, request: { method: 'PUT', url: 'Patient/y', ifMatch: 'W/"4"' } },
  ]) });
  t.equal(stale.statusCode, 412, 'status of the failing entry');
  t.equal((await s.request('GET', 'Patient/_history')).json().total, 0, 'nothing written');
});

t.test('transaction: processing order DELETE, POST, PUT, GET; GET sees the writes', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', 'Patient/old', { body: { resourceType: 'Patient', id: 'old' } });
  const res = await s.request('POST', '', { body: tx([
    { request: { method: 'GET', url: 'Patient/new' } },
    { resource: { resourceType: 'Patient', id: 'new' }, request: { method: 'PUT', url: 'Patient/new' } },
    { request: { method: 'DELETE', url: 'Patient/old' } },
  ]) });
  t.equal(res.statusCode, 200);
  const out = res.json();
  t.equal(out.entry[0].response.status, '200 OK');
  t.equal(out.entry[0].resource.id, 'new', 'GET ran after the PUT');
  t.equal(out.entry[1].response.status, '201 Created');
  t.equal(out.entry[2].response.status, '204 No Content');
});

t.test('transaction: the same resource twice → 400; empty → 200; bad Bundle type → 400', async (t) => {
  const s = await startServer(t);
  const dup = await s.request('POST', '', { body: tx([
    { resource: { resourceType: 'Patient', id: 'a' }, request: { method: 'PUT', url: 'Patient/a' } },
    { request: { method: 'DELETE', url: 'Patient/a' } },
  ]) });
  t.equal(dup.statusCode, 400);
  const empty = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction' } });
  t.equal(empty.statusCode, 200);
  t.same(empty.json().entry, []);
  t.equal((await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'collection' } })).statusCode, 400);
  t.equal((await s.request('POST', '', { body: { resourceType: 'Patient' } })).statusCode, 400);
});

t.test('transaction: conditional create and conditional references', async (t) => {
  const s = await startServer(t);
  const org = { resourceType: 'Organization', identifier: [{ system: 'http://example.org/org', value: 'o1' }], name: 'Org' };
  const first = await s.request('POST', '', { body: tx([
    { fullUrl: 'urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', resource: org,
      request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=http://example.org/org|o1' } },
  ]) });
  t.equal(first.json().entry[0].response.status, '201 Created');
  const again = await s.request('POST', '', { body: tx([
    { fullUrl: 'urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', resource: org,
      request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=http://example.org/org|o1' } },
    { resource: { resourceType: 'Patient', managingOrganization: { reference: 'urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' },
      generalPractitioner: [{ reference: 'Organization?identifier=http://example.org/org|o1' }] },
    request: { method: 'POST', url: 'Patient' } },
  ]) });
  t.equal(again.statusCode, 200);
  const out = again.json();
  t.equal(out.entry[0].response.status, '200 OK', 'conditional create matched the existing one');
  const orgId = first.json().entry[0].response.location.split('/')[6];
  const patient = out.entry[1].resource;
  t.equal(patient.managingOrganization.reference, `Organization/${orgId}`);
  t.equal(patient.generalPractitioner[0].reference, `Organization/${orgId}`, 'conditional reference resolved');
  t.equal((await s.request('GET', 'Organization/_history')).json().total, 1, 'no duplicate created');

  const none = await s.request('POST', '', { body: tx([
    { resource: { resourceType: 'Patient', managingOrganization: { reference: 'Organization?identifier=http://example.org/org|zzz' } },
      request: { method: 'POST', url: 'Patient' } },
  ]) });
  t.equal(none.statusCode, 404, 'unresolvable conditional reference fails the transaction');
});

t.test('batch: entries independent; failures carry an outcome; the batch answers 200', async (t) => {
  const s = await startServer(t);
  const res = await s.request('POST', '', { body: tx([
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Patient', nope: 1 }, request: { method: 'POST', url: 'Patient' } },
    { request: { method: 'GET', url: 'Patient/missing' } },
  ], 'batch') });
  t.equal(res.statusCode, 200);
  const out = res.json();
  t.equal(out.type, 'batch-response');
  t.equal(out.entry[0].response.status, '201 Created');
  t.equal(out.entry[1].response.status, '400 Bad Request');
  t.equal(out.entry[1].response.outcome.resourceType, 'OperationOutcome');
  t.equal(out.entry[2].response.status, '404 Not Found');
  t.equal((await s.request('GET', 'Patient/_history')).json().total, 1, 'the good entry was kept');
});

t.test('Prefer: return=minimal in a transaction leaves entry.resource out', async (t) => {
  const s = await startServer(t);
  const res = await s.request('POST', '', { headers: { prefer: 'return=minimal' }, body: tx([
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
  ]) });
  t.notOk(res.json().entry[0].resource);
  t.ok(res.json().entry[0].response.location);
});
