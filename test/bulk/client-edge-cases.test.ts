/**
 * What real Bulk Data clients tripped over (issue #22 §1–§4, §7): file downloads checked against the token presented,
 * `_since` in the future, kick-off headers, `_type` outside the Patient compartment, `includeAssociatedData`, and the
 * CapabilityStatement's operation names (bulk-data.md §2, §3, §7, §9).
 */
import t from 'tap';
import { bearer, fetchLines, localPath, runExport, startBulkServer } from './helpers.js';

const BULK = 'http://hl7.org/fhir/uv/bulkdata';

interface Outcome { resourceType: string; issue: { severity: string; code: string; diagnostics: string; expression?: string[] }[] }

t.test('Bulk Data client edge cases', async (t) => {
  const s = await startBulkServer(t);
  const patient = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', gender: 'female' } })).json();
  await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'x' },
    subject: { reference: `Patient/${patient.id}` } } });
  const group = (await s.request('POST', 'Group', { body: { resourceType: 'Group', type: 'person', actual: true,
    member: [{ entity: { reference: `Patient/${patient.id}` } }] } })).json();
  const kick = (path: string, headers: Record<string, string> = {}) =>
    s.request('GET', path, { headers: { prefer: 'respond-async', accept: 'application/fhir+json', ...headers } });
  const errorOutcomes = async (done: Awaited<ReturnType<typeof runExport>>): Promise<Outcome[]> =>
    (await Promise.all(done.manifest.error.map((e) => fetchLines(s, e.url)))).flat().map((l) => JSON.parse(l) as Outcome);

  await t.test('a file of Patients downloaded with a same-client token scoped to Observation only → 403', async (t) => {
    const done = await runExport(s, '$export?_type=Patient,Observation');
    const file = done.manifest.output.find((o) => o.type === 'Patient')!.url;
    const obsOnly = await s.token('system/Observation.rs');
    const r = await s.request('GET', localPath(file), { headers: bearer(obsOnly) });
    t.equal(r.statusCode, 403);
    t.equal(r.json().issue[0].code, 'forbidden');
    t.match(r.headers['www-authenticate'], /insufficient_scope/);
    const narrowed = await s.token('system/Patient.rs?gender=male');
    t.equal((await s.request('GET', localPath(file), { headers: bearer(narrowed) })).statusCode, 403,
      'a query-restricted token may not fetch what the unrestricted kick-off token exported');
    const obsFile = done.manifest.output.find((o) => o.type === 'Observation')!.url;
    t.equal((await s.request('GET', localPath(obsFile), { headers: bearer(obsOnly) })).statusCode, 200, 'its own type is fine');
    t.equal((await s.request('GET', localPath(file), { headers: bearer(await s.token('system/Patient.rs')) })).statusCode, 200);
    t.equal((await s.request('GET', localPath(done.status), { headers: bearer(obsOnly) })).statusCode, 200,
      'the status URL stays open to any token of the client');
    await s.request('DELETE', localPath(done.status));
  });

  await t.test('kick-off with _since in the future → 400', async (t) => {
    const future = new Date(Date.now() + 3600_000).toISOString();
    const r = await kick(`$export?_since=${encodeURIComponent(future)}`);
    t.equal(r.statusCode, 400);
    t.equal(r.json().resourceType, 'OperationOutcome');
    t.same(r.json().issue[0].expression, ['_since']);
    const past = await kick(`$export?_type=Patient&_since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`);
    t.equal(past.statusCode, 202);
    await s.request('DELETE', localPath(String(past.headers['content-location'])));
  });

  await t.test('kick-off without Accept and Prefer: processed (202), and the CapabilityStatement says so', async (t) => {
    const r = await s.request('GET', '$export?_type=Patient');
    t.equal(r.statusCode, 202);
    await s.request('DELETE', localPath(String(r.headers['content-location'])));
    const cs = (await s.request('GET', 'metadata')).json();
    t.match(cs.rest[0].documentation, /without Accept is processed as if Accept: application\/fhir\+json/);
    t.match(cs.rest[0].documentation, /without Prefer as if Prefer: respond-async/);
  });

  await t.test('_type outside the Patient compartment at Patient/Group level → ignored with a warning; 400 if strict', async (t) => {
    for (const path of ['Patient/$export?_type=Patient,Questionnaire', `Group/${group.id}/$export?_type=Patient,Questionnaire`]) {
      const done = await runExport(s, path);
      t.same(done.manifest.output.map((o) => o.type), ['Patient'], path);
      t.equal(done.kickoff.json<Outcome>().issue[1]?.severity, 'warning', 'the kick-off answer tells it too');
      const outcomes = await errorOutcomes(done);
      t.equal(outcomes.length, 1, path);
      t.equal(outcomes[0]!.issue[0]!.severity, 'warning');
      t.same(outcomes[0]!.issue[0]!.expression, ['_type']);
      t.match(outcomes[0]!.issue[0]!.diagnostics, /Questionnaire/);
      await s.request('DELETE', localPath(done.status));
      const strict = await kick(path, { prefer: 'respond-async, handling=strict' });
      t.equal(strict.statusCode, 400, `${path} under handling=strict`);
      t.same(strict.json().issue[0].expression, ['_type']);
    }
    t.equal((await kick('Patient/$export?_type=Questionnaire')).statusCode, 400, 'only types outside: nothing to export, 400');
  });

  await t.test('includeAssociatedData values not supported → ignored with an OperationOutcome in error; 400 if strict', async (t) => {
    const path = '$export?_type=Patient&includeAssociatedData=LatestProvenanceResources,_custom';
    const done = await runExport(s, path);
    t.same(done.manifest.output.map((o) => o.type), ['Patient']);
    const outcomes = await errorOutcomes(done);
    t.same(outcomes.map((o) => o.issue[0]!.expression), [['includeAssociatedData'], ['includeAssociatedData']]);
    t.ok(outcomes.every((o) => o.resourceType === 'OperationOutcome' && o.issue[0]!.severity === 'warning'));
    t.match(outcomes[0]!.issue[0]!.diagnostics, /LatestProvenanceResources/);
    await s.request('DELETE', localPath(done.status));
    const strict = await kick(path, { prefer: 'respond-async, handling=strict' });
    t.equal(strict.statusCode, 400);
    t.same(strict.json().issue[0].expression, ['includeAssociatedData']);
  });

  await t.test('the CapabilityStatement names export, patient-export and group-export as the Bulk Data IG does', async (t) => {
    const cs = (await s.request('GET', 'metadata')).json();
    t.ok(cs.instantiates.includes(`${BULK}/CapabilityStatement/bulk-data`));
    t.same(cs.rest[0].operation.filter((o: { definition: string }) => o.definition.startsWith(BULK)),
      [{ name: 'export', definition: `${BULK}/OperationDefinition/export` }]);
    const ops = (type: string) => cs.rest[0].resource.find((r: { type: string }) => r.type === type).operation
      .filter((o: { definition: string }) => o.definition.startsWith(BULK));
    t.same(ops('Patient'), [{ name: 'patient-export', definition: `${BULK}/OperationDefinition/patient-export` }]);
    t.same(ops('Group'), [{ name: 'group-export', definition: `${BULK}/OperationDefinition/group-export` }]);
  });
});
