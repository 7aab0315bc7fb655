/**
 * Access narrowing by construction (issue 12, ARCHITECTURE.md §7): a generated probe of every search form — direct,
 * chain, reverse chain (_has), two-hop chain, _include (:iterate) and _revinclude — under every narrowing kind
 * (launch patient, patient user, query-restricted scope). A probe value that exists only in data the token may not
 * see must answer exactly as a value that exists nowhere; no forbidden resource may appear in any Bundle.
 */
import t from 'tap';
import type { SearchParameterDef } from '../../src/fhir/definitions.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);

const LAB = { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' };
const VITAL = { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' };
const ref = (r: string) => ({ reference: r });
const id = (value: string) => [{ system: 'urn:probe', value }];
const obs = (oid: string, subject: string, category: typeof LAB, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation', id: oid, identifier: id(oid), status: 'final', category: [{ coding: [category] }],
  code: { coding: [{ system: 'http://loinc.org', code: `${oid}-code` }] }, subject: ref(subject), ...extra,
});

// X's data refers to Y's (focus, hasMember, a shared Observation) so that chains and includes have paths to follow.
const SEED: Record<string, unknown>[] = [
  { resourceType: 'Patient', id: 'px', identifier: id('px'), name: [{ family: 'Xavier' }], managingOrganization: ref('Organization/org-x') },
  { resourceType: 'Patient', id: 'py', identifier: id('py'), name: [{ family: 'Yolanda' }], managingOrganization: ref('Organization/org-y'),
    generalPractitioner: [ref('Practitioner/doc-y')] },
  { resourceType: 'Practitioner', id: 'doc-x', identifier: id('doc-x'), name: [{ family: 'Xdoc' }] },
  { resourceType: 'Practitioner', id: 'doc-y', identifier: id('doc-y'), name: [{ family: 'Ydoc' }] },
  { resourceType: 'Organization', id: 'org-x', identifier: id('org-x'), name: 'X clinic' },
  { resourceType: 'Organization', id: 'org-y', identifier: id('org-y'), name: 'Y clinic' },
  { resourceType: 'Medication', id: 'med-y', identifier: id('med-y'), code: { text: 'y drug' } },
  { resourceType: 'Encounter', id: 'enc-x', identifier: id('enc-x'), status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/px'),
    participant: [{ individual: ref('Practitioner/doc-x') }], serviceProvider: ref('Organization/org-x') },
  { resourceType: 'Encounter', id: 'enc-y', identifier: id('enc-y'), status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/py'),
    participant: [{ individual: ref('Practitioner/doc-y') }], serviceProvider: ref('Organization/org-y') },
  obs('obs-y1', 'Patient/py', LAB, { encounter: ref('Encounter/enc-y'), performer: [ref('Practitioner/doc-y')] }),
  obs('obs-y2', 'Patient/py', VITAL, { encounter: ref('Encounter/enc-y') }),
  obs('obs-x1', 'Patient/px', LAB, { focus: [ref('Patient/py')], hasMember: [ref('Observation/obs-y1')], encounter: ref('Encounter/enc-x'),
    performer: [ref('Practitioner/doc-x')] }),
  obs('obs-x2', 'Patient/px', VITAL, { hasMember: [ref('Observation/obs-y2')], derivedFrom: [ref('Observation/obs-x1')] }),
  // In X's compartment through performer, about Y: a path from X's data into Y's record.
  obs('obs-xy', 'Patient/py', LAB, { performer: [ref('Patient/px')], hasMember: [ref('Observation/obs-y2')] }),
  { resourceType: 'Condition', id: 'cond-y', identifier: id('cond-y'), subject: ref('Patient/py'), encounter: ref('Encounter/enc-y'),
    code: { text: 'y' } },
  { resourceType: 'Condition', id: 'cond-x', identifier: id('cond-x'), subject: ref('Patient/px'), encounter: ref('Encounter/enc-x'),
    evidence: [{ detail: [ref('Observation/obs-x1')] }], code: { text: 'x' } },
  { resourceType: 'MedicationRequest', id: 'rx-y', identifier: id('rx-y'), status: 'active', intent: 'order', subject: ref('Patient/py'),
    medicationReference: ref('Medication/med-y'), requester: ref('Practitioner/doc-y'), encounter: ref('Encounter/enc-y') },
  { resourceType: 'List', id: 'list-y', identifier: id('list-y'), status: 'current', mode: 'working', subject: ref('Patient/py'),
    entry: [{ item: ref('Observation/obs-x1') }, { item: ref('Observation/obs-y1') }] },
];
// One transaction: the resources name each other in every order (referential integrity is checked at its commit).
const seeded = await s.request('POST', '', { body: { resourceType: 'Bundle', type: 'transaction',
  entry: SEED.map((r) => ({ resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } })) } });
if (seeded.statusCode !== 200) throw new Error(`seed: ${seeded.body}`);
const TYPES = [...new Set(SEED.map((r) => r.resourceType as string))];
const Y_COMPARTMENT = ['Patient/py', 'Observation/obs-y1', 'Observation/obs-y2', 'Encounter/enc-y', 'Condition/cond-y',
  'MedicationRequest/rx-y', 'List/list-y'];

interface Kind { name: string; scope: string; context: { patient?: string; fhirUser?: string }; forbidden: string[] }
const KINDS: Kind[] = [
  { name: 'launch patient (patient/*.rs)', scope: 'patient/*.rs', context: { patient: 'px' }, forbidden: Y_COMPARTMENT },
  { name: 'patient user (user/*.rs, fhirUser Patient)', scope: 'user/*.rs', context: { fhirUser: 'Patient/px' }, forbidden: Y_COMPARTMENT },
  { name: 'query-restricted (Observation.rs?category=laboratory)',
    scope: `system/Observation.rs?category=${LAB.system}|${LAB.code} ${TYPES.filter((x) => x !== 'Observation').map((x) => `system/${x}.rs`).join(' ')}`,
    context: {}, forbidden: ['Observation/obs-y2', 'Observation/obs-x2'] },
];

const paramsOf = (type: string): SearchParameterDef[] => s.deps.defs.searchParametersFor(type).filter((p) => p.type === 'reference');
/** (source type, reference parameter) pairs among the seeded types whose targets include type. */
const referrers = (type: string) => TYPES.flatMap((u) => paramsOf(u).filter((p) => p.target?.includes(type)).map((p) => ({ u, p: p.code })));
const hasIdentifier = (type: string) => s.deps.defs.searchParametersFor(type).some((p) => p.code === 'identifier');

/** Leaf criteria on a type: [probe value, a value that exists nowhere]. */
function leaves(type: string, rid: string): [string, string][] {
  const out: [string, string][] = [[`_id=${rid}`, '_id=nowhere']];
  if (hasIdentifier(type)) out.push([`identifier=urn:probe|${rid}`, 'identifier=urn:probe|nowhere']);
  return out;
}

/** Every search form that reaches a resource of type through a leaf: direct, chains (one and two hops) and _has. */
function forms(type: string, leaf: string): string[] {
  const out = [`${type}?${leaf}`];
  for (const { u, p } of referrers(type)) {
    out.push(`${u}?${p}:${type}.${leaf}`);
    for (const { u: w, p: p2 } of referrers(u).slice(0, 3)) out.push(`${w}?${p2}:${u}.${p}:${type}.${leaf}`);
  }
  for (const p of paramsOf(type)) {
    for (const v of (p.target ?? []).filter((x) => TYPES.includes(x))) out.push(`${v}?_has:${type}:${p.code}:${leaf}`);
  }
  return out;
}

const tokenFor = new Map<string, string>();
const answers = new Map<string, Awaited<ReturnType<typeof s.request>>>();
let requests = 0;
/** One search under the kind's token (an unrestricted one without a kind); the same URL is asked once. */
async function search(kind: Kind | undefined, url: string) {
  const key = kind?.name ?? 'full';
  const known = answers.get(`${key} ${url}`);
  if (known) return known;
  if (!tokenFor.has(key)) tokenFor.set(key, await s.token(kind?.scope ?? 'system/*.rs', { context: kind?.context ?? {} }));
  requests++;
  const sep = url.includes('?') ? '&' : '?';
  const res = await s.request('GET', `${url}${sep}_total=accurate&_count=50`, { headers: { authorization: `Bearer ${tokenFor.get(key)}` } });
  answers.set(`${key} ${url}`, res);
  return res;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const entries = (bundle: any): string[] => (bundle.entry ?? []).map((e: { resource: { resourceType: string; id: string } }) =>
  `${e.resource.resourceType}/${e.resource.id}`);

for (const kind of KINDS) {
  t.test(`no search form learns forbidden data: ${kind.name}`, async (t) => {
    let compared = 0;
    let live = 0;
    const leaks: string[] = [];
    const shown: string[] = [];
    const before = requests;
    for (const f of kind.forbidden) {
      const [type, rid] = f.split('/') as [string, string];
      for (const [probe, miss] of leaves(type, rid)) {
        const probes = forms(type, probe);
        const misses = forms(type, miss);
        for (let n = 0; n < probes.length; n++) {
          const [hit, none] = [await search(kind, probes[n]!), await search(kind, misses[n]!)];
          t.ok(hit.statusCode < 500 && none.statusCode < 500, `no 5xx: ${probes[n]}`);
          if (hit.statusCode !== 200 || none.statusCode !== 200) {
            t.equal(hit.statusCode, none.statusCode, `same refusal: ${probes[n]}`);
            continue;
          }
          compared++;
          if (hit.json().total !== none.json().total) leaks.push(`${probes[n]}: ${hit.json().total} vs ${none.json().total}`);
          for (const e of entries(hit.json())) if (kind.forbidden.includes(e)) shown.push(`${probes[n]} → ${e}`);
          // The probe reaches data under an unrestricted token: the comparison above is not vacuous.
          const full = await search(undefined, probes[n]!);
          if (full.statusCode === 200 && full.json().total > 0) live++;
        }
      }
    }
    for (const u of TYPES) {
      for (const p of paramsOf(u)) {
        for (const url of [`${u}?_include=${u}:${p.code}`, `${u}?_include:iterate=${u}:${p.code}&_include=Observation:has-member`,
          ...(p.target ?? []).filter((x) => TYPES.includes(x)).map((x) => `${x}?_revinclude=${u}:${p.code}&_revinclude:iterate=Observation:has-member`)]) {
          const res = await search(kind, url);
          t.ok(res.statusCode < 500, `no 5xx: ${url}`);
          if (res.statusCode === 200) for (const e of entries(res.json())) if (kind.forbidden.includes(e)) shown.push(`${url} → ${e}`);
        }
      }
    }
    t.same(leaks, [], 'a value held only by forbidden data answers as a value held by nothing');
    t.same(shown, [], 'no forbidden resource in any Bundle');
    t.ok(compared >= 150, `compared ${compared} probe/miss pairs`);
    t.ok(live >= 15, `${live} probes find data under an unrestricted token`);
    t.comment(`${kind.name}: ${requests - before} requests, ${compared} compared, ${live} live`);
  });
}

t.test('the generated probe sends at least 2,000 requests in all', async (t) => {
  t.ok(requests >= 2000, `${requests} requests`);
});

const as = async (scope: string, context: { patient?: string; fhirUser?: string } = {}) => {
  const token = await s.token(scope, { context });
  return (method: string, path: string, body?: unknown) => s.request(method, path, {
    headers: { authorization: `Bearer ${token}`, ...(method === 'PATCH' ? { 'content-type': 'application/json-patch+json' } : {}) },
    ...(body !== undefined ? { body } : {}) });
};

t.test('_has from a type outside the compartment is narrowed (answered the practitioners who saw another patient)', async (t) => {
  const x = await as('patient/*.rs', { patient: 'px' });
  for (const url of ['Practitioner?_has:Encounter:participant:subject=Patient/py', 'Organization?_has:Encounter:service-provider:subject=Patient/py',
    'Practitioner?_has:Encounter:participant:_id=enc-y']) {
    const res = await x('GET', `${url}&_total=accurate`);
    t.equal(res.statusCode, 200, url);
    t.equal(res.json().total, 0, url);
  }
  const own = await x('GET', 'Practitioner?_has:Encounter:participant:subject=Patient/px&_total=accurate');
  t.same(entries(own.json()), ['Practitioner/doc-x'], 'the patient\'s own encounters still count');
});

t.test('chains do not test other patients\' data (answered 1 for the right family name)', async (t) => {
  const x = await as('patient/*.rs', { patient: 'px' });
  for (const url of ['Observation?_id=obs-x1&focus:Patient.name=Yolanda', 'Observation?_id=obs-x1&has-member:Observation.code=http://loinc.org|obs-y1-code',
    'Observation?_id=obs-xy&subject:Patient.name=Yolanda', 'Observation?_list=list-y']) {
    const res = await x('GET', `${url}&_total=accurate`);
    t.equal(res.json().total, 0, url);
  }
  const full = await as('system/*.rs');
  t.equal((await full('GET', 'Observation?_id=obs-x1&focus:Patient.name=Yolanda&_total=accurate')).json().total, 1, 'the chain matches when Y may be read');
  t.equal((await x('GET', 'Observation?_id=obs-x1&has-member:Observation.performer:Practitioner.name=Xdoc&_total=accurate')).json().total, 0,
    'a chain through a forbidden hop finds nothing even when its last hop is visible');
});

t.test('query-restricted scopes narrow _has and chains (answered 1 for the forbidden code)', async (t) => {
  const lab = await as(`system/Observation.rs?category=${LAB.system}|${LAB.code} system/Patient.rs`);
  const vital = 'http://loinc.org|obs-y2-code';
  t.equal((await lab('GET', 'Observation/obs-y2')).statusCode, 403, 'reading the vital-signs Observation is refused');
  t.equal((await lab('GET', `Patient?_id=py&_has:Observation:subject:code=${vital}&_total=accurate`)).json().total, 0);
  t.equal((await lab('GET', 'Patient?_id=py&_has:Observation:subject:code=http://loinc.org|obs-y1-code&_total=accurate')).json().total, 1,
    'a laboratory Observation still counts');
  t.equal((await lab('GET', 'Observation?_id=obs-x2&derived-from:Observation.code=http://loinc.org|obs-x1-code&_total=accurate')).statusCode, 200);
});

t.test('patient-scoped writes leave every compartment reference at the patient (stored subject Y with performer X)', async (t) => {
  const x = await as('patient/*.cruds', { patient: 'px' });
  const about = (subject: string, performer: string) => obs('written', subject, LAB, { performer: [ref(performer)] });
  const put = await x('PUT', 'Observation/written', about('Patient/py', 'Patient/px'));
  t.equal(put.statusCode, 403, 'PUT about another patient');
  t.equal((await x('POST', 'Observation', about('Patient/py', 'Patient/px'))).statusCode, 403, 'POST about another patient');
  const y = await as('patient/*.rs', { patient: 'py' });
  t.equal((await y('GET', 'Observation/written')).statusCode, 404, 'nothing was stored');
  t.equal((await x('PUT', 'Observation/written', about('Patient/px', 'Patient/px'))).statusCode, 201, 'about the patient alone');
  t.equal((await x('PUT', 'Observation/written', about('Patient/px', 'Patient/py'))).statusCode, 403, 'an update may not add another patient');
  t.equal((await x('PATCH', 'Observation/written', [{ op: 'add', path: '/performer/-', value: ref('Patient/py') }])).statusCode, 403,
    'nor a patch');
  t.equal((await x('PUT', 'Observation/obs-xy', { ...SEED.find((r) => r.id === 'obs-xy'), status: 'amended' })).statusCode, 403,
    'a shared resource that names another patient cannot be changed by a patient-scoped token');
});
