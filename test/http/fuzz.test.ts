import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { findTenant } from '../../src/storage/tenants.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Issue #12 "no 500 on any input": a few hundred malformed requests from a seeded PRNG (HEARTH_FUZZ_SEED to replay
 * a run), each answered with a 4xx OperationOutcome, and none of the refused writes leaves anything behind.
 */
const SEED = Number(process.env.HEARTH_FUZZ_SEED ?? 20_240_612);
const COUNT = Number(process.env.HEARTH_FUZZ_COUNT ?? 320);

/** mulberry32: small, fast and good enough to pick cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

interface Case { what: string; method: string; path: string; body?: unknown; headers?: Record<string, string>; write: boolean }

/** One search parameter of every type (and the forms that reach SQL differently: modifiers, chains, _has). */
const SEARCHES: [string, string][] = [
  ['Patient', 'family'], ['Patient', 'name:contains'], ['Patient', 'name:exact'], ['Patient', 'identifier'],
  ['Patient', 'gender:not'], ['Observation', 'code:text'], ['Observation', 'code:below'], ['Observation', 'subject'],
  ['Observation', 'subject:identifier'], ['Observation', 'subject.name'], ['Patient', '_has:Observation:subject:code'],
  ['Patient', 'birthdate'], ['RiskAssessment', 'probability'], ['Observation', 'value-quantity'], ['ValueSet', 'url'],
  ['ValueSet', 'url:below'], ['Observation', 'code-value-quantity'], ['Patient', '_id'], ['Patient', '_lastUpdated'],
  ['Patient', '_tag'], ['Patient', '_profile'], ['Patient', '_sort'], ['Patient', '_include'], ['Patient', '_elements'],
  ['Patient', '_count'], ['Patient', '_summary'], ['Patient', '_total'], ['Patient', 'family:missing'], ['Patient', '_list'],
];

const enc = (s: string) => encodeURIComponent(s);

function insertAt(rng: Rng, s: string, bad: string): string {
  const i = rng.int(s.length + 1);
  return s.slice(0, i) + bad + s.slice(i);
}

function searchCase(rng: Rng): Case {
  const [type, name] = rng.pick(SEARCHES);
  const value = insertAt(rng, rng.pick(['x', 'http://loinc.org|1234-5', '2020-01-01', '5', 'gt5|http://unitsofmeasure.org|mg', 'Patient/1', '']), '\u0000');
  const how = rng.int(4);
  if (how === 0) return { what: `GET ${type}?${name}=<NUL>`, method: 'GET', path: `${type}?${enc(name)}=${enc(value)}`, write: false };
  if (how === 1) return { what: `POST ${type}/_search ${name}=<NUL>`, method: 'POST', path: `${type}/_search`, write: false,
    body: `${enc(name)}=${enc(value)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  if (how === 2) return { what: `If-None-Exist ${name}=<NUL>`, method: 'POST', path: 'Patient', write: true,
    body: { resourceType: 'Patient' }, headers: { 'if-none-exist': `${enc(name)}=${enc(value)}` } };
  return { what: `GET ${type}?<NUL in name>`, method: 'GET', path: `${type}?${enc(insertAt(rng, name, '\u0000'))}=x`, write: false };
}

/** JSON text with a JSON-escaped bad character (NUL or a lone surrogate) in a random string or element name. */
function badStringBody(rng: Rng): Case {
  const esc = rng.pick(['\\u0000', '\\ud800', '\\udc00', 'a\\u0000', '\\udbff\\u0041']);
  const spots = [
    `{"resourceType":"Patient","name":[{"family":"A${esc}"}]}`,
    `{"resourceType":"Patient","id":"p${esc}"}`,
    `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"${esc}"}`,
    `{"resourceType":"Patient","identifier":[{"system":"http://x${esc}","value":"1"}]}`,
    `{"resourceType":"Patient","extension":[{"url":"http://x","valueString":"v","k${esc}":1}]}`,
    `{"resourceType":"Patient${esc}"}`,
    `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">${esc}</div>"}}`,
  ];
  const body = rng.pick(spots);
  const type = /"resourceType":"(\w+)"/.exec(body)?.[1] ?? 'Patient';
  if (rng.int(2) === 0) return { what: `POST ${type} with ${esc}`, method: 'POST', path: type, body, write: true };
  const bundle = `{"resourceType":"Bundle","type":"${rng.pick(['transaction', 'batch'])}","entry":[{"resource":${body},"request":{"method":"POST","url":"${type}"}}]}`;
  return { what: `Bundle entry with ${esc}`, method: 'POST', path: '', body: bundle, write: true };
}

function deepBody(rng: Rng): Case {
  const depth = 101 + rng.int(rng.pick([50, 2_000, 20_000]));
  const shape = rng.int(3);
  const inner = shape === 0
    ? `${'{"url":"http://x","extension":['.repeat(depth)}{"url":"http://x","valueString":"v"}${']}'.repeat(depth)}`
    : shape === 1 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const body = `{"resourceType":"Patient","extension":[${inner}]}`;
  return { what: `depth ${depth} (shape ${shape})`, method: rng.pick(['POST', 'PUT']), path: rng.pick(['Patient', 'Patient/deep']), body, write: true };
}

function hugeString(rng: Rng): Case {
  const n = 1024 * 1024 + 1 + rng.int(2 * 1024 * 1024);
  const big = 'y'.repeat(n);
  const body = rng.pick([
    { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: big },
    { resourceType: 'Patient', name: [{ family: big }] },
    { resourceType: 'Patient', extension: [{ url: 'http://x', valueString: big }] },
  ]);
  return { what: `string of ${n} characters`, method: 'POST', path: String(body.resourceType), body, write: true };
}

const WRONG_TYPES: unknown[] = [
  { resourceType: 'Patient', name: 5 }, { resourceType: 'Patient', active: 'yes' }, { resourceType: 'Patient', birthDate: {} },
  { resourceType: 'Patient', id: [] }, { resourceType: 42 }, { resourceType: 'Patient', name: [null] },
  { resourceType: 'Patient', gender: true }, { resourceType: 'Patient', extension: 'x' }, [], 7, 'text', null, true,
  { resourceType: 'Patient', meta: { versionId: 1 } }, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: '1e999999' } },
  { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueInteger: 1e300 },
  { resourceType: 'Patient', contained: [{ resourceType: 'Nope' }] },
  '{"resourceType":"Patient","__proto__":{"active":true}}', '{"resourceType":"Patient","constructor":{"prototype":{}}}',
];

function wrongTypes(rng: Rng): Case {
  const body = rng.pick(WRONG_TYPES);
  const text = typeof body === 'string' && body.startsWith('{') ? body : JSON.stringify(body);
  return { what: `wrong JSON types ${text.slice(0, 60)}`, method: rng.pick(['POST', 'PUT']), path: rng.pick(['Patient', 'Patient/w1', 'Observation']), body: text, write: true };
}

function malformedJson(rng: Rng): Case {
  const body = rng.pick(['{"resourceType":"Patient",', '{"resourceType":"Patient"}garbage', '{"a":"\\u12"}', '\ufeff{}',
    '{"resourceType":"Patient","name":[{"family":"x"}]', '{,}', '{"resourceType":"Patient","active":tru}', '']);
  return { what: `malformed JSON ${JSON.stringify(body).slice(0, 40)}`, method: 'POST', path: 'Patient', body, write: true };
}

function garbageContentType(rng: Rng): Case {
  const type = rng.pick(['text/html', 'multipart/form-data; boundary=x', 'application/fhir+json; fhirVersion=9.9', 'application/xml',
    'application/octet-stream', 'fhir', '*/*', 'application/fhir+json; charset=klingon', 'application/x-www-form-urlencoded', ';;;']);
  return { what: `Content-Type ${type}`, method: rng.pick(['POST', 'PUT']), path: rng.pick(['Patient', 'Patient/c1']),
    body: '{"resourceType":"Patient","name":[{"family":"\\u0000"}]}', headers: { 'content-type': type }, write: true };
}

function badId(rng: Rng): Case {
  const id = rng.pick(['%00', 'a%00b', 'x'.repeat(65), '..', '%2e%2e', 'a%20b', '%ZZ', 'a_b', '%ED%A0%80', 'é', '$x', '*']);
  const path = rng.pick([`Patient/${id}`, `Patient/${id}/_history`, `Patient/p/_history/${id}`, `Patient/${id}/$everything`, `${id}/x`]);
  const method = rng.pick(['GET', 'PUT', 'DELETE', 'PATCH']);
  const body = method === 'PUT' ? { resourceType: 'Patient', id } : method === 'PATCH' ? [{ op: 'add', path: '/active', value: true }] : undefined;
  return { what: `${method} ${path}`, method, path, body, write: method !== 'GET',
    headers: method === 'PATCH' ? { 'content-type': 'application/json-patch+json' } : {} };
}

function badBundle(rng: Rng): Case {
  const type = rng.pick(['transaction', 'batch']);
  const entries: unknown[] = [
    { resource: { resourceType: 'Patient' } }, { request: { method: 'FOO', url: 'Patient' } }, { request: { method: 'POST' } },
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'http://elsewhere.org/fhir/Patient' } },
    { resource: { resourceType: 'Bundle', type: 'transaction' }, request: { method: 'POST', url: '' } },
    { resource: { resourceType: 'Patient', name: 1 }, request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Patient' }, request: { method: 'PUT', url: 'Patient?identifier=a%00' } },
    { request: { method: 'GET', url: 'Patient?family=%00' } }, { request: { method: 'DELETE', url: 'Patient?_id=%00' } },
    { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=%00' } },
    null, 5, 'x', { fullUrl: 7, resource: {}, request: { method: 'POST', url: 'Patient' } },
  ];
  const shape = rng.int(4);
  const body = shape === 0 ? { resourceType: 'Bundle', type, entry: 'x' }
    : shape === 1 ? { resourceType: 'Bundle', type: rng.pick(['document', 'collection', 7, undefined]), entry: [] }
      : { resourceType: 'Bundle', type, entry: [{ resource: { resourceType: 'Patient', name: [{ family: 'ok' }] },
        request: { method: 'POST', url: 'Patient' } }, rng.pick(entries), rng.pick(entries)] };
  // A batch may store its valid entries; only a transaction must write nothing.
  const safe = type === 'transaction' && shape > 1 ? body
    : { ...body, entry: Array.isArray(body.entry) ? body.entry.slice(1) : body.entry };
  return { what: `bad ${type} Bundle (shape ${shape})`, method: 'POST', path: '', body: safe, write: true };
}

function badPatch(rng: Rng, target: string): Case {
  const jp = { 'content-type': 'application/json-patch+json' };
  const bodies: [unknown, Record<string, string>][] = [
    [{ op: 'add' }, jp], [[{ op: 'add', path: '/active' }], jp], [[{ op: 'add', path: 'active', value: true }], jp],
    [[{ op: 'replace', path: '/name/99/family', value: 'x' }], jp], [[{ op: 'add', path: '/gender', value: 'male\u0000' }], jp],
    [[{ op: 'copy', from: '/nope', path: '/x' }], jp], [[{ op: 'move', from: '/id', path: '/x' }], jp], [[{ op: 'add', path: '/~2', value: 1 }], jp],
    [[{ op: 'add', path: '/extension', value: JSON.parse(`[${'{"url":"http://x","extension":['.repeat(200)}{"url":"http://x","valueString":"v"}${']}'.repeat(200)}]`) }], jp],
    [{ resourceType: 'Parameters', parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'add' }] }] }, {}],
    [{ resourceType: 'Parameters', parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' },
      { name: 'path', valueString: 'Patient.(((' }, { name: 'value', valueString: 'x' }] }] }, {}],
    [{ resourceType: 'Parameters', parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'add' },
      { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'gender' }, { name: 'value', valueCode: '\u0000' }] }] }, {}],
    [{ resourceType: 'Parameters', parameter: 'x' }, {}], [{ resourceType: 'Patient' }, {}],
  ];
  const [body, headers] = rng.pick(bodies);
  if (rng.int(3) > 0) return { what: `PATCH ${JSON.stringify(body).slice(0, 60)}`, method: 'PATCH', path: target, body, headers, write: true };
  const data = rng.int(4) === 0 ? '!!not base64!!' : Buffer.from(JSON.stringify(body)).toString('base64');
  return { what: 'Binary-wrapped patch in a transaction', method: 'POST', path: '', write: true, body: { resourceType: 'Bundle',
    type: 'transaction', entry: [{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data },
      request: { method: 'PATCH', url: target } }] } };
}

function generate(rng: Rng, target: string): Case {
  switch (rng.int(10)) {
    case 0: case 1: return searchCase(rng);
    case 2: return badStringBody(rng);
    case 3: return deepBody(rng);
    case 4: return rng.int(4) === 0 ? hugeString(rng) : wrongTypes(rng);
    case 5: return malformedJson(rng);
    case 6: return garbageContentType(rng);
    case 7: return badId(rng);
    case 8: return badBundle(rng);
    default: return badPatch(rng, target);
  }
}

async function send(s: TestServer, c: Case) {
  return s.request(c.method, c.path, { ...(c.body !== undefined ? { body: c.body } : {}), headers: { ...c.headers } });
}

t.test(`fuzz: ${COUNT} malformed requests (seed ${SEED}) → 0 × 5xx, every 4xx an OperationOutcome, nothing written`, async (t) => {
  const s = await startServer(t);
  const seed = (await s.request('POST', 'Patient', { body: { resourceType: 'Patient', active: true } })).json();
  const target = `Patient/${seed.id}`;
  const rng = prng(SEED);
  const failures: string[] = [];
  for (let n = 0; n < COUNT; n++) {
    const c = generate(rng, target);
    const res = await send(s, c);
    const where = `#${n} ${c.what} → ${res.statusCode}`;
    if (res.statusCode >= 500) { failures.push(`${where}: ${res.body.slice(0, 200)}`); continue; }
    if (res.statusCode >= 400) {
      let type: unknown;
      try { type = res.json().resourceType; } catch { type = undefined; }
      if (type !== 'OperationOutcome') failures.push(`${where}: not an OperationOutcome`);
    } else if (c.write && res.statusCode !== 200) {
      failures.push(`${where}: a malformed write was accepted`);
    } else if (c.write && res.json().type === 'batch-response') {
      const stored = (res.json().entry as { response: { status: string } }[]).filter((e) => /^2/.test(e.response.status));
      if (stored.length > 0) failures.push(`${where}: a batch stored ${stored.length} malformed entries`);
    }
  }
  t.same(failures, [], 'every request answered a 4xx OperationOutcome (or a batch of them)');
  const tenant = await findTenant(s.deps.db, s.slug);
  const [versions] = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(tenant!.schema)}.resource_version`);
  t.equal(versions?.n, 1, 'nothing but the seed resource was written');
  t.equal((await s.request('GET', target)).json().meta.versionId, '1', 'the patch target is unchanged');
});
