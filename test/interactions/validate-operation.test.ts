/**
 * $validate (issue #15 §5): [type]/$validate and [type]/[id]/$validate, GET and POST, a bare resource or Parameters,
 * modes create/update/delete and profile; always 200 with every issue, never a write, audited as a read.
 */
import t from 'tap';
import { HEARTH_SUBTYPE } from '../../src/audit/event.js';
import { startServer } from '../helpers/server.js';

/** Narrative: without one, every resource draws the dom-6 warning (test/validation/invariants.test.ts). */
const NARRATIVE = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' };

interface Outcome { resourceType: string; issue: { severity: string; code: string; expression?: string[]; diagnostics?: string }[] }

const count = async (s: Awaited<ReturnType<typeof startServer>>, type: string) =>
  (await s.request('GET', `${type}?_summary=count`)).json().total as number;

t.test('[type]/$validate: a bare resource or Parameters, every issue listed, nothing written', async (t) => {
  const s = await startServer(t);
  const ok = await s.request('POST', 'Patient/$validate', { body: { resourceType: 'Patient', text: NARRATIVE, gender: 'female' } });
  t.equal(ok.statusCode, 200);
  const good = ok.json() as Outcome;
  t.equal(good.resourceType, 'OperationOutcome');
  t.same(good.issue.map((i) => i.severity), ['information'], 'a valid resource: one information issue');

  const bad = await s.request('POST', 'Patient/$validate', { body: { resourceType: 'Patient', gender: 'robot', birthDate: 'yesterday',
    telecom: [{ system: 'pager2' }], nickname: 'x' } });
  t.equal(bad.statusCode, 200, 'an invalid resource is still 200: the validation was done');
  const issues = (bad.json() as Outcome).issue;
  t.ok(issues.every((i) => i.severity === 'error'));
  t.same(issues.map((i) => i.expression?.[0]).sort(),
    ['Patient.birthDate', 'Patient.gender', 'Patient.nickname', 'Patient.telecom[0].system'], 'every fault, each with its element');
  t.match(issues.find((i) => i.expression?.[0] === 'Patient.gender')?.diagnostics, /administrative-gender/);
  t.equal(await count(s, 'Patient'), 0, 'nothing was written');

  const wrapped = await s.request('POST', 'Observation/$validate', { body: { resourceType: 'Parameters', parameter: [
    { name: 'resource', resource: { resourceType: 'Observation', status: 'nonsense', code: { text: 'x' } } },
    { name: 'mode', valueCode: 'create' }] } });
  t.same((wrapped.json() as Outcome).issue.map((i) => [i.code, i.expression?.[0]]), [['code-invalid', 'Observation.status']]);

  const other = await s.request('POST', 'Patient/$validate', { body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } } });
  t.same((other.json() as Outcome).issue.map((i) => i.code), ['invalid'], 'a resource of another type than the URL');
  t.equal((await s.request('POST', 'Patient/$validate', { body: { resourceType: 'Parameters', parameter: [
    { name: 'mode', valueCode: 'erase' }, { name: 'resource', resource: { resourceType: 'Patient' } }] } })).statusCode, 400, 'unknown mode');
  t.equal((await s.request('POST', 'Patient/$validate')).statusCode, 400, 'nothing to validate');
  t.equal((await s.request('POST', 'Patient/$validate', { body: [1] })).statusCode, 400, 'not a resource');
});

t.test('[type]/[id]/$validate: the stored resource, update and delete modes, profiles', async (t) => {
  const s = await startServer(t);
  t.equal((await s.request('PUT', 'Patient/v1', { body: { resourceType: 'Patient', id: 'v1', text: NARRATIVE, gender: 'male' } })).statusCode, 201);
  const stored = await s.request('GET', 'Patient/v1/$validate');
  t.equal(stored.statusCode, 200);
  t.same((stored.json() as Outcome).issue.map((i) => i.severity), ['information'], 'the stored resource is valid');

  const mismatch = await s.request('POST', 'Patient/v1/$validate?mode=update', { body: { resourceType: 'Patient', text: NARRATIVE, id: 'v2' } });
  t.same((mismatch.json() as Outcome).issue.map((i) => [i.code, i.expression?.[0]]), [['invalid', 'Patient.id']]);
  const noId = await s.request('POST', 'Patient/$validate?mode=update', { body: { resourceType: 'Patient', text: NARRATIVE } });
  t.same((noId.json() as Outcome).issue.map((i) => [i.code, i.expression?.[0]]), [['required', 'Patient.id']]);

  const del = await s.request('GET', 'Patient/v1/$validate?mode=delete');
  t.equal(del.statusCode, 200);
  t.match((del.json() as Outcome).issue[0]?.diagnostics, /can be deleted/);
  t.equal((await s.request('GET', 'Patient/missing/$validate?mode=delete')).statusCode, 404, 'the instance must exist');
  t.equal((await s.request('GET', 'Patient/$validate?mode=delete')).statusCode, 400, 'delete needs an instance');

  const core = await s.request('POST', 'Patient/$validate?profile=http://hl7.org/fhir/StructureDefinition/Patient',
    { body: { resourceType: 'Patient', text: NARRATIVE } });
  t.same((core.json() as Outcome).issue.map((i) => i.severity), ['information'], 'the core profile is known');
  const unknown = await s.request('POST', 'Patient/$validate?profile=http://example.org/StructureDefinition/mine',
    { body: { resourceType: 'Patient', text: NARRATIVE } });
  t.same((unknown.json() as Outcome).issue.map((i) => [i.severity, i.code]), [['error', 'not-supported']], 'an unknown profile is an error');
  t.equal((await s.request('GET', 'Patient/v1')).json().meta.versionId, '1', 'never a write');
});

t.test('scopes: an instance needs read access, a type-level validation create or update; audited as a read', async (t) => {
  const s = await startServer(t);
  await s.request('PUT', 'Patient/a1', { body: { resourceType: 'Patient', id: 'a1' } });
  const as = async (scope: string) => ({ authorization: `Bearer ${await s.token(scope)}` });
  t.equal((await s.request('GET', 'Patient/a1/$validate', { headers: await as('system/Patient.r') })).statusCode, 200);
  t.equal((await s.request('GET', 'Patient/a1/$validate', { headers: await as('system/Patient.c') })).statusCode, 403);
  t.equal((await s.request('POST', 'Patient/$validate', { headers: await as('system/Patient.c'), body: { resourceType: 'Patient' } })).statusCode, 200);
  t.equal((await s.request('POST', 'Patient/$validate', { headers: await as('system/Patient.r'), body: { resourceType: 'Patient' } })).statusCode, 403);

  const subtype = encodeURIComponent(`${HEARTH_SUBTYPE}|$validate`);
  const events = (await s.request('GET', `AuditEvent?subtype=${subtype}&_count=50`, { headers: await as('system/AuditEvent.rs') })).json();
  t.ok(events.entry?.length >= 3, `each $validate is audited: ${JSON.stringify(events).slice(0, 300)}`);
  t.ok(events.entry.every((e: { resource: { action: string } }) => e.resource.action === 'R'), 'as a read (action R)');
});

t.test('the CapabilityStatement lists $validate on every resource type', async (t) => {
  const s = await startServer(t);
  const cs = (await s.request('GET', 'metadata')).json();
  const resources = cs.rest[0].resource as { type: string; operation?: { name: string; definition: string }[] }[];
  for (const type of ['Patient', 'Observation', 'Appointment']) {
    t.ok(resources.find((r) => r.type === type)?.operation?.some((o) => o.name === 'validate'
      && o.definition === 'http://hl7.org/fhir/OperationDefinition/Resource-validate'), type);
  }
});
