/** Bulk Data kick-off, status, cancel, download and authorisation (bulk-data.md §1–§7, §9, §11). */
import t from 'tap';
import { type Manifest, bearer, clientToken, fetchLines, localPath, runExport, runJobs, startBulkServer } from './helpers.js';

t.test('Bulk Data kick-off, status and files', async (t) => {
  const s = await startBulkServer(t, { HEARTH_EXPORT_MAX_JOBS: '1' });
  const patient = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', gender: 'female' } })).json();
  await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'x' },
    subject: { reference: `Patient/${patient.id}` } } });
  const kick = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: unknown) =>
    s.request(method, path, { headers, ...(body ? { body } : {}) });

  await t.test('the CapabilityStatement lists $export at system, Patient and Group level and instantiates bulk-data', async (t) => {
    const cs = (await s.request('GET', 'metadata')).json();
    t.ok(cs.instantiates.includes('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'));
    t.ok(cs.rest[0].operation.some((o: { name: string; definition: string }) => o.name === 'export'
      && o.definition === 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export'));
    const op = (type: string) => cs.rest[0].resource.find((r: { type: string }) => r.type === type).operation
      .find((o: { name: string }) => o.name === `${type.toLowerCase()}-export`).definition;
    t.equal(op('Patient'), 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export');
    t.equal(op('Group'), 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export');
  });

  await t.test('without Prefer and Accept: 202, absolute Content-Location; status 202 with X-Progress until the job ran', async (t) => {
    const r = await kick('$export');
    t.equal(r.statusCode, 202);
    const status = String(r.headers['content-location']);
    t.match(status, new RegExp(`^${s.url.replace(/[.$]/g, '\\$&')}/_bulk/[0-9a-f-]{36}$`));
    t.equal(r.json().resourceType, 'OperationOutcome');
    const busy = await kick('$export');
    t.equal(busy.statusCode, 429, 'one export per client at a time (project decision)');
    t.ok(Number(busy.headers['retry-after']) > 0);
    t.equal(busy.json().issue[0].code, 'throttled');
    t.equal((await kick('$export', bearer(await s.token('system/*.rs')))).statusCode, 429, 'the same client with another token');
    const other = await kick('$export?_type=Patient', bearer(await clientToken(s, 'analytics', 'system/*.rs')));
    t.equal(other.statusCode, 202, 'another client may export at the same time');
    const pending = await s.request('GET', localPath(status));
    t.equal(pending.statusCode, 202);
    t.equal(pending.headers['x-progress'], 'queued');
    t.ok(Number(pending.headers['retry-after']) > 0);
    await runJobs(s);
    const done = await s.request('GET', localPath(status));
    t.equal(done.statusCode, 200);
    t.match(done.headers['content-type'], /^application\/json/);
    t.ok(Date.parse(String(done.headers.expires)) - Date.now() > 23 * 3600_000, 'Expires: 24 h by default');
    const m = done.json<Manifest>();
    t.same(Object.keys(m).sort(), ['error', 'output', 'request', 'requiresAccessToken', 'transactionTime']);
    t.ok(Date.parse(m.transactionTime) <= Date.now());
    t.same(m.output.map((o) => [o.type, o.count]), [['Observation', 1], ['Patient', 1]]);
    t.equal(m.output[0]!.url.startsWith(`${s.url}/_bulk/`), true, 'absolute file URLs');
    const lines = await fetchLines(s, m.output[1]!.url);
    t.equal(JSON.parse(lines[0]!).id, patient.id);
    t.equal((await s.request('DELETE', localPath(status))).statusCode, 202, 'DELETE → 202');
    t.equal((await s.request('GET', localPath(status))).statusCode, 404, 'then 404');
    t.equal((await s.request('GET', localPath(m.output[1]!.url))).statusCode, 404, 'its files are gone');
    t.equal((await s.request('DELETE', localPath(status))).statusCode, 404);
  });

  await t.test('status and files: 401 without a token, 404 for another client, Range and gzip', async (t) => {
    const done = await runExport(s, '$export?_type=Patient');
    const file = done.manifest.output[0]!.url;
    for (const url of [done.status, file]) {
      t.equal((await s.request('GET', localPath(url), { auth: false })).statusCode, 401);
      const otherClient = await clientToken(s, 'someone-else', 'system/*.rs');
      const r = await s.request('GET', localPath(url), { headers: bearer(otherClient) });
      t.equal(r.statusCode, 404, `another client's ${url.includes('.ndjson') ? 'file' : 'status'} → 404`);
    }
    const whole = await s.request('GET', localPath(file));
    t.match(whole.headers['content-type'], /^application\/fhir\+ndjson/);
    const part = await s.request('GET', localPath(file), { headers: { range: 'bytes=0-9' } });
    t.equal(part.statusCode, 206);
    t.equal(part.body, whole.body.slice(0, 10));
    t.equal((await s.request('GET', localPath(file), { headers: { range: 'bytes=999999-' } })).statusCode, 416);
    const gz = await s.request('GET', localPath(file), { headers: { 'accept-encoding': 'gzip' } });
    t.equal(gz.headers['content-encoding'], 'gzip');
    t.equal((await s.request('GET', localPath(file.replace('Patient-1', 'Patient-9')))).statusCode, 404);
  });

  await t.test('unsupported parameters: 400, or with handling=lenient an OperationOutcome in the error file', async (t) => {
    const bad: [string, number, string?][] = [
      ['$export?_outputFormat=text/csv', 400], ['$export?_since=2020-01-01', 400], ['$export?_type=Nope', 400],
      ['$export?includeAssociatedData=LatestProvenanceResources', 400, 'strict'], ['$export?_foo=1', 400],
      ['Patient/$export?_type=Questionnaire', 400], ['Patient/$export?patient=Patient/1', 400],
      [`$export?_typeFilter=${encodeURIComponent('Observation?code=x&_sort=date')}`, 400],
      [`$export?_typeFilter=${encodeURIComponent('Nope?x=1')}`, 400], ['$export?_elements=a.b.c', 400],
      ['Group/missing/$export', 404],
    ];
    for (const [path, status, handling] of bad) {
      const r = await kick(path, handling ? { prefer: `respond-async, handling=${handling}` } : {});
      t.equal(r.statusCode, status, path);
      t.equal(r.json().resourceType, 'OperationOutcome');
    }
    t.equal((await kick('$export', { prefer: 'respond-sync' })).statusCode, 400, 'Prefer other than respond-async');
    t.equal((await kick('$export', { accept: 'application/xml' })).statusCode, 406);
    t.equal((await kick('$export', {}, 'POST', { resourceType: 'Parameters', parameter: [
      { name: 'patient', valueReference: { reference: `Patient/${patient.id}` } }] })).statusCode, 400, 'patient on system export');
    t.equal((await kick('Patient/$export', {}, 'POST', { resourceType: 'Parameters', parameter: [
      { name: 'patient', valueReference: { reference: 'Patient/nobody' } }] })).statusCode, 400, 'unknown patient');

    for (const alias of ['application/fhir%2Bndjson', 'application/ndjson', 'ndjson']) {
      const r = await kick(`$export?_type=Patient&_outputFormat=${alias}`);
      t.equal(r.statusCode, 202, alias);
      await s.request('DELETE', localPath(String(r.headers['content-location'])));
    }
    const lenient = await runExport(s, 'Patient/$export?_outputFormat=text/csv&_type=Patient,Questionnaire'
      + '&includeAssociatedData=LatestProvenanceResources', { headers: { prefer: 'respond-async, handling=lenient' } });
    t.same(lenient.manifest.output.map((o) => o.type), ['Patient']);
    t.equal(lenient.manifest.error.length, 1);
    t.equal(lenient.manifest.error[0]!.type, 'OperationOutcome');
    const outcomes = lenient.files.get(lenient.manifest.error[0]!.url)!.map((l) => JSON.parse(l));
    t.same(outcomes.map((o) => o.issue[0].expression[0]).sort(), ['_outputFormat', '_type', 'includeAssociatedData']);
    await s.request('DELETE', localPath(lenient.status));
  });

  await t.test('a job that fails answers its status with 500 and an OperationOutcome', async (t) => {
    const group = (await s.request('POST', 'Group', { body: { resourceType: 'Group', type: 'person', actual: true,
      member: [{ entity: { reference: `Patient/${patient.id}` } }] } })).json();
    const r = await kick(`Group/${group.id}/$export`);
    t.equal(r.statusCode, 202);
    await s.request('DELETE', `Group/${group.id}`);
    await runJobs(s);
    const status = await s.request('GET', localPath(String(r.headers['content-location'])));
    t.equal(status.statusCode, 500);
    t.match(status.json().issue[0].diagnostics, new RegExp(`Group/${group.id} did not exist at the export's transactionTime`));
  });

  await t.test('authorisation: patient/ tokens 403, a _type outside the scopes 403, no _type → only permitted types', async (t) => {
    const patientToken = await s.token('patient/*.rs', { context: { patient: patient.id } as never });
    t.equal((await kick('$export', bearer(patientToken))).statusCode, 403);
    const obsOnly = await s.token('system/Observation.rs');
    t.equal((await kick('$export?_type=Patient', bearer(obsOnly))).statusCode, 403);
    const done = await runExport(s, '$export', { headers: bearer(obsOnly) });
    t.same(done.manifest.output.map((o) => o.type), ['Observation']);
    const poll = await s.request('GET', localPath(done.status), { headers: bearer(await s.token('system/*.rs')) });
    t.equal(poll.statusCode, 200, 'the kicking-off client may poll with any of its tokens');
  });
});
