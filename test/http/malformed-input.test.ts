import crypto from 'node:crypto';
import t, { type Test } from 'tap';
import { startServer, type Reply, type TestServer } from '../helpers/server.js';

/** Regression tests for issue #12 §6–§9: inputs that answered 500 (or were stored) now answer a 4xx outcome. */

const isOutcome = (t: Test, res: Reply, status: number, expression?: RegExp | string, what = '') => {
  t.equal(res.statusCode, status, `${what} → ${status}`);
  const oo = res.json();
  t.equal(oo.resourceType, 'OperationOutcome', `${what} → OperationOutcome`);
  if (expression !== undefined) t.match(oo.issue[0].expression?.[0], expression, `${what} names ${String(expression)}`);
};

/** Random letters: btree index tuples are compressed, so a repeated character would not overflow them. */
const randomText = (n: number) => Array.from(crypto.randomBytes(n), (b) => String.fromCharCode(97 + (b % 26))).join('');

const total = async (s: TestServer, type: string) => (await s.request('GET', `${type}/_history`)).json().total as number;

t.test('NUL in a search value of every parameter type → 400 naming the parameter, was 500 (22021)', async (t) => {
  const s = await startServer(t);
  const cases: [string, string][] = [
    ['Patient', 'family'], ['Patient', 'identifier'], ['Observation', 'subject'], ['Patient', 'birthdate'],
    ['RiskAssessment', 'probability'], ['Observation', 'value-quantity'], ['ValueSet', 'url'],
    ['Observation', 'code-value-quantity'], ['Patient', 'name:exact'], ['Patient', 'gender:not'], ['Patient', '_id'],
    ['Observation', 'subject:identifier'], ['Observation', 'subject.name'], ['Patient', '_has:Observation:subject:code'],
  ];
  for (const [type, name] of cases) {
    const res = await s.request('GET', `${type}?${encodeURIComponent(name)}=a%00b`);
    isOutcome(t, res, 400, name, `GET ${type}?${name}=NUL`);
  }
  isOutcome(t, await s.request('POST', 'Patient/_search', { body: 'family=x%00',
    headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'family', 'POST _search form');
  isOutcome(t, await s.request('POST', 'Patient', { body: { resourceType: 'Patient' },
    headers: { 'if-none-exist': 'identifier=x%00y' } }), 400, 'identifier', 'If-None-Exist');
  isOutcome(t, await s.request('PUT', 'Patient?identifier=x%00y', { body: { resourceType: 'Patient' } }), 400, 'identifier',
    'conditional PUT');
  isOutcome(t, await s.request('DELETE', 'Patient?family=x%00y'), 400, 'family', 'conditional DELETE');
  t.equal(await total(s, 'Patient'), 0, 'nothing was written');
});

t.test('NUL or a lone surrogate in a body string → 400 naming the element, was 500 (22P05, 22P02)', async (t) => {
  const s = await startServer(t);
  const nul = { resourceType: 'Patient', name: [{ family: 'a\u0000b' }] };
  isOutcome(t, await s.request('POST', 'Patient', { body: nul }), 400, 'Patient.name[0].family', 'create NUL');
  isOutcome(t, await s.request('POST', 'Patient', { body: '{"resourceType":"Patient","name":[{"family":"a\\ud800"}]}' }),
    400, 'Patient.name[0].family', 'create lone surrogate');
  isOutcome(t, await s.request('POST', 'Patient', { body: '{"resourceType":"Patient","gender":"\\udc00male"}' }),
    400, 'Patient.gender', 'create lone low surrogate');
  isOutcome(t, await s.request('POST', 'Patient', { body: '{"resourceType":"Patient","extension":[{"url":"http://x","valueString":"x","a\\u0000":1}]}' }),
    400, 'Patient.extension[0]', 'NUL in an element name');
  isOutcome(t, await s.request('PUT', 'Patient/p1', { body: { ...nul, id: 'p1' } }), 400, 'Patient.name[0].family', 'update');
  const bundle = (type: string) => ({ resourceType: 'Bundle', type, entry: [
    { resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } },
    { resource: nul, request: { method: 'POST', url: 'Patient' } }] });
  isOutcome(t, await s.request('POST', '', { body: bundle('transaction') }), 400, 'Bundle.entry[1].resource.name[0].family', 'transaction');
  isOutcome(t, await s.request('POST', '', { body: bundle('batch') }), 400, 'Bundle.entry[1].resource.name[0].family', 'batch');
  t.equal(await total(s, 'Patient'), 0, 'nothing was written');

  const created = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', active: true } })).json();
  const path = `Patient/${created.id}`;
  isOutcome(t, await s.request('PATCH', path, { headers: { 'content-type': 'application/json-patch+json' },
    body: [{ op: 'add', path: '/name', value: [{ family: 'a\u0000' }] }] }), 400, /^\[0\]\.value/, 'JSON Patch');
  isOutcome(t, await s.request('PATCH', path, { body: { resourceType: 'Parameters', parameter: [{ name: 'operation', part: [
    { name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'gender' },
    { name: 'value', valueCode: 'male\u0000' }] }] } }), 400, /Parameters\.parameter\[0\]\.part\[3\]\.valueCode/, 'FHIRPath Patch');
  const binaryPatch = Buffer.from(JSON.stringify([{ op: 'add', path: '/gender', value: 'male\u0000' }])).toString('base64');
  const tx = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction', entry: [{
    resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: binaryPatch },
    request: { method: 'PATCH', url: path } }] } });
  t.ok(tx.statusCode >= 400 && tx.statusCode < 500, 'Binary-wrapped JSON Patch in a transaction → 4xx');
  t.equal(tx.json().resourceType, 'OperationOutcome');
  t.equal((await s.request('GET', path)).json().meta.versionId, '1', 'the patched resource was not changed');
});

/** An extension holding `depth` levels of extensions, as JSON text (JSON.stringify itself recurses too deep). */
const nestedText = (depth: number) =>
  `${'{"url":"http://example.org/nested","extension":['.repeat(depth)}{"url":"http://example.org/leaf","valueString":"leaf"}${']}'.repeat(depth)}`;
const nested = (depth: number): unknown => JSON.parse(nestedText(depth));

t.test('extensions nested 5,000 deep → 400 before validation, was 500 (stack overflow in the validator)', async (t) => {
  const s = await startServer(t);
  for (const depth of [5_000, 10_000]) {
    const res = await s.request('POST', 'Patient', { body: `{"resourceType":"Patient","extension":[${nestedText(depth)}]}` });
    isOutcome(t, res, 400, /^Patient\.extension\[0\]\.extension/, `depth ${depth}`);
    t.match(res.json().issue[0].diagnostics, /100/);
  }
  const ok = await s.request('POST', 'Patient', { body: { resourceType: 'Patient', extension: [nested(40)] } });
  t.equal(ok.statusCode, 201, 'nesting within the limit is stored');
  const json = await s.request('PATCH', `Patient/${ok.json().id}`, { headers: { 'content-type': 'application/json-patch+json' },
    body: [{ op: 'add', path: '/extension/-', value: nested(60) }] });
  t.ok(json.statusCode === 400 || json.statusCode === 422, 'a patch result beyond the limit is refused');
  t.equal(json.json().resourceType, 'OperationOutcome');
  t.equal(await total(s, 'Patient'), 1, 'only the resource within the limit was written');
});

t.test('indexed values over 2,600 characters → stored and searchable, was 500 (54000 index row too large)', async (t) => {
  const s = await startServer(t);
  const family = randomText(5_000);
  const code = randomText(4_000);
  const system = `http://example.org/${randomText(3_000)}`;
  const value = randomText(5_000);
  const url = `http://example.org/ValueSet/${randomText(4_000)}`;
  const ref = `http://example.org/fhir/${randomText(3_000)}/Patient/1`;
  const patient = await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family }],
    identifier: [{ system, value }], generalPractitioner: [{ reference: ref }] } });
  t.equal(patient.statusCode, 201, 'a Patient with a 5,000-character family name is stored');
  const obs = await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final',
    code: { coding: [{ system, code }] }, valueString: randomText(5_000) } });
  t.equal(obs.statusCode, 201, 'an Observation with a 5,000-character valueString and a 4,000-character code is stored');
  const vs = await s.request('POST', 'ValueSet', { body: { resourceType: 'ValueSet', status: 'active', url } });
  t.equal(vs.statusCode, 201, 'a ValueSet with a 4,000-character url is stored');
  const qty = await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'q' },
    valueQuantity: { value: 5, system: 'http://unitsofmeasure.org', code } } });
  t.equal(qty.statusCode, 201, 'a Quantity with a 4,000-character code is stored');

  const found = async (query: string) => (await s.request('POST', `${query.split('?')[0]}/_search`, { body: query.split('?')[1],
    headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json().total as number;
  const q = encodeURIComponent;
  t.equal(await found(`Patient?family=${q(family)}`), 1, 'family: the whole value');
  t.equal(await found(`Patient?family=${q(family.slice(0, 300))}`), 1, 'family: a prefix longer than the index key');
  t.equal(await found(`Patient?family=${q(family.slice(0, 10))}`), 1, 'family: a short prefix');
  t.equal(await found(`Patient?family=${q(`${family.slice(0, 4_000)}zz`)}`), 0, 'family: same key, other value');
  t.equal(await found(`Patient?family:exact=${q(family)}`), 1, 'family:exact');
  t.equal(await found(`Patient?identifier=${q(`${system}|${value}`)}`), 1, 'identifier system|value');
  t.equal(await found(`Patient?identifier=${q(`${system}|${value.slice(0, 4_999)}`)}`), 0, 'identifier: one character short');
  t.equal(await found(`Observation?code=${q(`${system}|${code.toUpperCase()}`)}`), 1, 'token code (case-insensitive)');
  t.equal(await found(`Observation?code=${q(`${system}|`)}`), 2 - 1, 'token system|');
  t.equal(await found(`ValueSet?url=${q(url)}`), 1, 'uri');
  t.equal(await found(`ValueSet?url:below=${q(url.slice(0, 1_000))}`), 1, 'uri:below with a long prefix');
  t.equal(await found(`Patient?general-practitioner=${q(ref)}`), 1, 'reference url');
  t.equal(await found(`Observation?value-quantity=${q(`5|http://unitsofmeasure.org|${code}`)}`), 1, 'quantity code');
});

t.test('a string over 1 MB in a body → 400 naming the element, was stored (10 MB drove the server to 1.45 GB)', async (t) => {
  const s = await startServer(t);
  const big = 'x'.repeat(1024 * 1024 + 1);
  const res = await s.request('POST', 'Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'x' },
    valueString: big } });
  isOutcome(t, res, 400, 'Observation.valueString', 'valueString of 1 MB + 1');
  t.equal(res.json().issue[0].code, 'too-long');
  t.equal(await total(s, 'Observation'), 0, 'nothing was written');
  const data = Buffer.alloc(1024 * 1024).toString('base64');
  const binary = await s.request('POST', 'Binary', { body: { resourceType: 'Binary', contentType: 'application/octet-stream', data } });
  t.equal(binary.statusCode, 201, 'a base64Binary may exceed 1 MB');
  const small = await startServer(t, { HEARTH_BODY_LIMIT: '65536' });
  const limited = await small.request('POST', 'Binary', { body: { resourceType: 'Binary', contentType: 'text/plain', data } });
  isOutcome(t, limited, 413, undefined, 'HEARTH_BODY_LIMIT still applies');
});
