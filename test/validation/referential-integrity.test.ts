/**
 * Referential integrity (issue #15 §2, the part that needs the database): a relative reference must name a live
 * resource of the tenant when the write commits; a delete that would leave references dangling is refused with its
 * referrers named, unless `_cascade=delete`; a tenant may relax both through the admin API. Every rule: an accepted
 * and a refused write, and nothing written by the refused one.
 */
import t from 'tap';
import { ADMIN } from '../access/helpers.js';
import { startServer, type TestServer } from '../helpers/server.js';

interface Outcome { issue: { code: string; expression?: string[]; diagnostics?: string }[] }

const obs = (subject: string, more: Record<string, unknown> = {}) =>
  ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: subject }, ...more });

const count = async (s: TestServer, type: string): Promise<number> => (await s.request('GET', `${type}?_summary=count`)).json().total;

async function put(s: TestServer, resource: { resourceType: string; id: string }): Promise<void> {
  const res = await s.request('PUT', `${resource.resourceType}/${resource.id}`, { body: resource });
  if (res.statusCode >= 300) throw new Error(res.body);
}

t.test('a reference must name a live resource of the tenant', async (t) => {
  const s = await startServer(t);
  await put(s, { resourceType: 'Patient', id: 'p1' });
  await put(s, { resourceType: 'Patient', id: 'gone' });
  t.equal((await s.request('DELETE', 'Patient/gone')).statusCode, 204);
  const accepted: [string, unknown][] = [
    ['an existing target', obs('Patient/p1')],
    ['an existing target, versioned', obs('Patient/p1/_history/1')],
    ['absolute, contained and logical references are not checked', obs('https://other.example.org/fhir/Patient/9', {
      contained: [{ resourceType: 'Practitioner', id: 'pr' }], performer: [{ reference: '#pr' }, { identifier: { value: '7' } }] })],
    ['a resource naming itself', { resourceType: 'Patient', id: 'self', link: [{ other: { reference: 'Patient/self' }, type: 'seealso' }] }],
  ];
  for (const [name, body] of accepted) {
    const r = body as { resourceType: string; id?: string };
    const res = r.id ? await s.request('PUT', `${r.resourceType}/${r.id}`, { body }) : await s.request('POST', r.resourceType, { body });
    t.ok(res.statusCode === 201 || res.statusCode === 200, `${name}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  }
  const refused: [string, unknown, string, RegExp][] = [
    ['a missing target', obs('Patient/nobody'), 'Observation.subject', /Observation\.subject refers to Patient\/nobody, which does not exist/],
    ['a deleted target', obs('Patient/gone'), 'Observation.subject', /Patient\/gone/],
    ['a missing target, versioned', obs('Patient/nobody/_history/3'), 'Observation.subject', /Patient\/nobody/],
    ['in a list, in a backbone element', obs('Patient/p1', { performer: [{ reference: 'Patient/p1' }, { reference: 'Practitioner/x' }] }),
      'Observation.performer[1]', /Practitioner\/x/],
    ['in a contained resource', obs('#c', { contained: [{ resourceType: 'Patient', id: 'c',
      generalPractitioner: [{ reference: 'Practitioner/y' }] }] }), 'Observation.contained[0].generalPractitioner[0]', /Practitioner\/y/],
    ['in an extension', { resourceType: 'Patient', extension: [{ url: 'http://example.org/x', valueReference: { reference: 'Claim/1' } }] },
      'Patient.extension[0].valueReference', /Claim\/1/],
  ];
  for (const [name, body, expression, text] of refused) {
    const type = (body as { resourceType: string }).resourceType;
    const before = await count(s, type);
    const res = await s.request('POST', type, { body });
    t.equal(res.statusCode, 422, name);
    const issue = (res.json() as Outcome).issue[0]!;
    t.equal(issue.code, 'not-found', name);
    t.same(issue.expression, [expression], name);
    t.match(issue.diagnostics, text, name);
    t.equal(await count(s, type), before, `${name}: nothing written`);
  }
  const update = await s.request('PUT', 'Patient/p1', { body: { resourceType: 'Patient', id: 'p1', managingOrganization: { reference: 'Organization/none' } } });
  t.equal(update.statusCode, 422, 'an update is checked too');
  t.notOk((await s.request('GET', 'Patient/p1')).json().managingOrganization, 'and the earlier version stays current');
});

t.test('in a transaction, entries may name each other in any order; one missing target fails the whole Bundle', async (t) => {
  const s = await startServer(t);
  const patient = 'urn:uuid:7a1c0d3e-0000-4000-8000-000000000001';
  const good = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: obs(patient), request: { method: 'POST', url: 'Observation' } },
    { resource: obs('Patient/later'), request: { method: 'POST', url: 'Observation' } },
    { fullUrl: patient, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Patient', id: 'later' }, request: { method: 'PUT', url: 'Patient/later' } }] } });
  t.equal(good.statusCode, 200, good.body.slice(0, 300));
  const before = await count(s, 'Observation');
  const bad = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: obs('Patient/later'), request: { method: 'POST', url: 'Observation' } },
    { resource: obs('Patient/missing'), request: { method: 'POST', url: 'Observation' } }] } });
  t.equal(bad.statusCode, 422);
  t.match((bad.json() as Outcome).issue[0]!.diagnostics, /Patient\/missing/);
  t.equal(await count(s, 'Observation'), before, 'no entry of the failed transaction was written');
  const deleteBoth = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'DELETE', url: 'Patient/later' } },
    ...(await s.request('GET', 'Observation?subject=Patient/later')).json().entry
      .map((e: { resource: { id: string } }) => ({ request: { method: 'DELETE', url: `Observation/${e.resource.id}` } }))] } });
  t.equal(deleteBoth.statusCode, 200, 'a target and its referrers deleted by one transaction');
});

t.test('a delete that would leave references dangling is refused with the referrers named; _cascade=delete takes them along', async (t) => {
  const s = await startServer(t);
  await put(s, { resourceType: 'Patient', id: 'p1' });
  const o1 = (await s.request('POST', 'Observation', { body: obs('Patient/p1') })).json().id as string;
  await put(s, { resourceType: 'DiagnosticReport', id: 'r1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' },
    result: [{ reference: `Observation/${o1}` }] } as never);
  const refused = await s.request('DELETE', 'Patient/p1');
  t.equal(refused.statusCode, 409);
  const issue = (refused.json() as Outcome).issue[0]!;
  t.equal(issue.code, 'conflict');
  t.match(issue.diagnostics, /Patient\/p1 cannot be deleted/);
  t.match(issue.diagnostics, /DiagnosticReport\/r1 \(DiagnosticReport\.subject\)/);
  t.match(issue.diagnostics, new RegExp(`Observation/${o1} \\(Observation\\.subject\\)`));
  t.equal((await s.request('GET', 'Patient/p1')).statusCode, 200, 'still there');
  const validated = await s.request('GET', 'Patient/p1/$validate?mode=delete');
  t.equal(validated.statusCode, 200);
  t.equal((validated.json() as Outcome).issue[0]!.code, 'conflict', '$validate mode=delete names the referrers');
  t.match((validated.json() as Outcome).issue[0]!.diagnostics, /DiagnosticReport\/r1/);
  t.equal((await s.request('DELETE', 'Patient/p1?_cascade=remove')).statusCode, 400, 'an unknown _cascade value');

  const removedLink = await s.request('PUT', `Observation/${o1}`, { body: { ...obs('Patient/p1'), id: o1, subject: undefined } });
  t.equal(removedLink.statusCode, 200);
  t.equal((await s.request('DELETE', `Observation/${o1}`)).statusCode, 409, 'the report still names the Observation');

  t.equal((await s.request('GET', 'Patient/nobody-names-me/$validate?mode=delete')).statusCode, 404);
  const cascade = await s.request('DELETE', 'Patient/p1?_cascade=delete');
  t.equal(cascade.statusCode, 204, cascade.body);
  for (const path of ['Patient/p1', 'DiagnosticReport/r1']) {
    t.equal((await s.request('GET', path)).statusCode, 410, `${path} deleted by the cascade`);
  }
  t.equal((await s.request('GET', `Observation/${o1}`)).statusCode, 200, 'what a referrer names is not a referrer: it stays');
  t.equal((await s.request('DELETE', `Observation/${o1}`)).statusCode, 204, 'and its own referrer is gone now');
  const auditor = { headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } };
  const events = (await s.request('GET', 'AuditEvent?action=D&entity=DiagnosticReport/r1', auditor)).json();
  t.equal(events.entry?.length, 1, 'each resource the cascade deleted has its own AuditEvent');
});

t.test('a tenant may relax referential integrity through the admin API (audited)', async (t) => {
  const s = await startServer(t);
  const admin = (method: string, body?: unknown) =>
    s.request(method, `/admin/tenants/${s.slug}/integrity`, { headers: ADMIN, ...(body !== undefined ? { body } : {}) });
  t.same((await admin('GET')).json(), { referentialIntegrity: true }, 'on by default');
  const policy = async () => (await s.request('GET', 'metadata')).json().rest[0].resource.find((r: { type: string }) => r.type === 'Patient').referencePolicy;
  t.same(await policy(), ['literal', 'logical', 'enforced'], 'the CapabilityStatement says references are enforced');
  t.equal((await admin('PUT', { referentialIntegrity: 'no' })).statusCode, 400);
  t.equal((await admin('PUT', { referentialIntegrity: false, other: 1 })).statusCode, 400);
  t.equal((await admin('PUT', { referentialIntegrity: false })).statusCode, 200);
  t.same(await policy(), ['literal', 'logical'], 'and no longer once relaxed');
  const dangling = await s.request('POST', 'Observation', { body: obs('Patient/elsewhere') });
  t.equal(dangling.statusCode, 201, 'relaxed: a reference to nothing is stored');
  await put(s, { resourceType: 'Patient', id: 'p2' });
  await s.request('POST', 'Observation', { body: obs('Patient/p2') });
  t.equal((await s.request('DELETE', 'Patient/p2')).statusCode, 204, 'relaxed: a referenced resource may be deleted');
  t.equal((await admin('PUT', { referentialIntegrity: true })).statusCode, 200);
  t.equal((await s.request('POST', 'Observation', { body: obs('Patient/elsewhere') })).statusCode, 422, 'strict again');
  const auditor = { headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } };
  const events = (await s.request('GET', 'AuditEvent?subtype=referential-integrity', auditor)).json();
  t.equal((events.entry ?? []).length, 4, 'every change and refusal is audited');
});

t.test('a concurrent delete of the target and a write naming it never both succeed', async (t) => {
  const s = await startServer(t);
  let both = 0;
  for (let round = 0; round < 8; round++) {
    const id = `race-${round}`;
    await put(s, { resourceType: 'Patient', id });
    const [deleted, created] = await Promise.all([s.request('DELETE', `Patient/${id}`), s.request('POST', 'Observation', { body: obs(`Patient/${id}`) })]);
    t.ok([204, 409].includes(deleted.statusCode), `delete: ${deleted.statusCode}`);
    t.ok([201, 422].includes(created.statusCode), `create: ${created.statusCode}`);
    if (deleted.statusCode === 204 && created.statusCode === 201) both++;
  }
  t.equal(both, 0, 'no Observation names a deleted Patient');
});
