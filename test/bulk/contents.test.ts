/**
 * What exports contain, checked against the Synthea fixture bundles: each file's lines are compared with resources
 * computed independently from the bundle files (their urn:uuid references resolved to the ids the server assigned).
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { Bundle } from '../../src/fhir/types.js';
import { bearer, resourcesByType, runExport, startBulkServer, type Done } from './helpers.js';

const DIR = path.resolve(import.meta.dirname, '../fixtures/synthea');
const FILES = ['Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json', 'Gustavo_Mejía_59a8543c-e24f-4a01-b28b-47ccde6bc11d.json',
  'Andrea_Dach_76f26ce3-5aac-4b16-ac35-321ff6a7f63c.json'];
const REFERENCED = ['Practitioner', 'Organization', 'Location', 'Medication'];

type Json = Record<string, unknown>;

/** Replaces every string equal to a bundle fullUrl by the Type/id it became. */
function resolve(node: unknown, ids: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => resolve(n, ids));
  if (typeof node === 'string') return ids.get(node) ?? node;
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v, ids)]));
  return node;
}

/** The stored form minus what the server stamps (meta.versionId, meta.lastUpdated). */
function unstamped(r: Json): Json {
  const { meta, ...rest } = r as { meta?: Json };
  const { versionId: _v, lastUpdated: _l, ...kept } = meta ?? {};
  return Object.keys(kept).length > 0 ? { ...rest, meta: kept } : rest;
}

const key = (r: Json) => `${r.resourceType as string}/${r.id as string}`;

/** Every Type/id a resource refers to. */
function references(node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => references(n, into));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'reference' && typeof v === 'string') into.add(v);
      else references(v, into);
    }
  }
  return into;
}

/** Independent Patient-level expectation: the patients, what refers to them, and the REFERENCED types they use. */
function compartmentOf(all: Map<string, Json>, patients: string[]): Set<string> {
  const inScope = new Set(patients.map((p) => `Patient/${p}`));
  const members = new Set<string>();
  for (const [k, r] of all) {
    if (inScope.has(k) || (!REFERENCED.includes(r.resourceType as string) && [...references(r)].some((x) => inScope.has(x)))) members.add(k);
  }
  for (const k of [...members]) for (const x of references(all.get(k))) if (REFERENCED.includes(x.split('/')[0]!) && all.has(x)) members.add(x);
  return members;
}

function exported(done: Done): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const [, list] of resourcesByType(done)) for (const r of list) out.set(key(r), r);
  return out;
}

/** Every file: lines parse as resources of the item's type, and count = lines. */
function checkFiles(t: Test, done: Done) {
  for (const item of [...done.manifest.output, ...done.manifest.error, ...done.manifest.deleted ?? []]) {
    const lines = done.files.get(item.url)!;
    t.equal(lines.length, item.count, `${item.url.split('/').pop()}: count = lines`);
    t.ok(lines.every((l) => (JSON.parse(l) as Json).resourceType === item.type), `${item.type} lines only`);
  }
}

t.test('Synthea exports equal the resources computed from the bundle files', async (t) => {
  const s = await startBulkServer(t, { HEARTH_EXPORT_FILE_RESOURCES: '100' });
  const all = new Map<string, Json>();
  const patients: string[] = [];
  for (const file of FILES) {
    const bundle = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as Bundle;
    const res = await s.request('POST', '', { body: bundle, headers: { prefer: 'return=minimal' } });
    t.equal(res.statusCode, 200, `${file} loads`);
    const locations = (res.json() as Bundle).entry!.map((e) => /([A-Z][A-Za-z]+\/[^/]+)\/_history\//.exec(e.response!.location!)![1]!);
    const ids = new Map(bundle.entry!.map((e, i) => [e.fullUrl!, locations[i]!]));
    bundle.entry!.forEach((e, i) => {
      const r: Json = { ...resolve(e.resource, ids) as Json, id: locations[i]!.split('/')[1] };
      all.set(key(r), unstamped(r));
      if (r.resourceType === 'Patient') patients.push(r.id as string);
    });
  }
  const group = (await s.request('POST', 'Group', { body: { resourceType: 'Group', type: 'person', actual: true, member: [
    { entity: { reference: `Patient/${patients[0]}` } }, { entity: { reference: `Patient/${patients[1]}` }, inactive: true }] } })).json();
  all.set(`Group/${group.id}`, unstamped(group));

  await t.test('system $export: every resource once, split at 100 per file', async (t) => {
    const done = await runExport(s, '$export');
    checkFiles(t, done);
    const got = exported(done);
    t.same([...got.keys()].sort(), [...all.keys()].sort(), 'exactly the stored resources');
    for (const [k, r] of got) t.same(unstamped(r), all.get(k), k);
    const obs = done.manifest.output.filter((o) => o.type === 'Observation');
    const n = [...all.keys()].filter((k) => k.startsWith('Observation/')).length;
    t.equal(obs.length, Math.ceil(n / 100), `${n} Observations in ${Math.ceil(n / 100)} files`);
    t.ok(obs.slice(0, -1).every((o) => o.count === 100));
    t.same(done.manifest.error, []);
    t.equal(done.manifest.requiresAccessToken, true);
    t.match(done.manifest.request, /\/\$export$/);
  });

  await t.test('Patient/$export: the compartments of all patients plus the practitioners and organizations they refer to', async (t) => {
    const done = await runExport(s, 'Patient/$export');
    checkFiles(t, done);
    t.same([...exported(done).keys()].sort(), [...compartmentOf(all, patients)].sort());
  });

  await t.test('Group/[id]/$export: only the active member\'s compartment', async (t) => {
    const done = await runExport(s, `Group/${group.id}/$export`);
    const got = exported(done);
    const expected = compartmentOf(all, [patients[0]!]);
    t.same([...got.keys()].sort(), [...expected].sort());
    t.notOk([...got.values()].some((r) => r.resourceType === 'Patient' && r.id !== patients[0]), 'no other patient');
    for (const [k, r] of got) t.same(unstamped(r), all.get(k), k);
  });

  await t.test('POST Parameters with patient: only those patients', async (t) => {
    const body = { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: `Patient/${patients[2]}` } },
      { name: '_type', valueString: 'Patient,Condition' }] };
    const done = await runExport(s, 'Patient/$export', { method: 'POST', body });
    const expected = [...compartmentOf(all, [patients[2]!])].filter((k) => /^(Patient|Condition)\//.test(k));
    t.same([...exported(done).keys()].sort(), expected.sort());
    t.notMatch(done.manifest.request, /patient/, 'request is the URL without the body');
  });

  await t.test('_typeFilter runs the search engine; types without a filter are exported whole', async (t) => {
    const filter = encodeURIComponent('Observation?category=vital-signs');
    const done = await runExport(s, `$export?_type=Observation,Patient&_typeFilter=${filter}`);
    const vital = [...all].filter(([k, r]) => k.startsWith('Observation/')
      && JSON.stringify(r.category ?? []).includes('"code":"vital-signs"')).map(([k]) => k);
    const got = [...exported(done).keys()];
    t.same(got.filter((k) => k.startsWith('Observation/')).sort(), vital.sort());
    t.equal(got.filter((k) => k.startsWith('Patient/')).length, 3);
  });

  await t.test('_elements keeps the named and mandatory elements and tags SUBSETTED', async (t) => {
    const done = await runExport(s, '$export?_type=Patient,Encounter&_elements=Patient.birthDate,status');
    for (const [type, list] of resourcesByType(done)) {
      for (const r of list) {
        const keys = Object.keys(r).sort();
        t.same(keys, type === 'Patient' ? ['birthDate', 'id', 'meta', 'resourceType'] : ['class', 'id', 'meta', 'resourceType', 'status']);
        t.ok(JSON.stringify(r.meta).includes('SUBSETTED'));
      }
    }
  });

  await t.test('a query-restricted scope exports only what it allows', async (t) => {
    const token = await s.token('system/Observation.rs?category=laboratory system/Patient.rs');
    const done = await runExport(s, '$export', { headers: bearer(token) });
    const labs = [...all].filter(([k, r]) => k.startsWith('Observation/') && JSON.stringify(r.category ?? []).includes('"code":"laboratory"'));
    t.same([...new Set(done.manifest.output.map((o) => o.type))].sort(), ['Observation', 'Patient']);
    t.same([...exported(done).keys()].filter((k) => k.startsWith('Observation/')).sort(), labs.map(([k]) => k).sort());
  });

  await t.test('_since: changed resources only; deletions in deleted; never a deleted resource in output', async (t) => {
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const obs = [...all.values()].find((r) => r.resourceType === 'Observation' && (r.subject as { reference: string }).reference === `Patient/${patients[0]}`)!;
    const changed = { ...obs, status: 'amended' };
    t.equal((await s.request('PUT', `Observation/${obs.id}`, { body: changed })).statusCode, 200);
    // A resource of the patient's that nothing refers to (Synthea's Claims name every Immunization, Condition …, and
    // referential integrity refuses to leave their references dangling).
    const text = JSON.stringify([...all.values()]);
    const gone = [...all.values()].find((r) => r.resourceType !== 'Patient' && r.id !== obs.id
      && (r.subject ?? r.patient) && JSON.stringify(r.subject ?? r.patient).includes(`"Patient/${patients[0]}"`)
      && !text.includes(`"${r.resourceType}/${r.id}"`))!;
    const goneType = gone.resourceType as string;
    t.equal((await s.request('DELETE', `${goneType}/${gone.id}`)).statusCode, 204);
    for (const level of ['$export', 'Patient/$export', `Group/${group.id}/$export`]) {
      const done = await runExport(s, `${level}?_since=${encodeURIComponent(since)}`);
      checkFiles(t, done);
      const got = exported(done);
      t.same([...got.keys()], [`Observation/${obs.id}`], `${level}: only the changed resource`);
      t.equal(got.get(`Observation/${obs.id}`)!.status, 'amended');
      const deleted = [...done.files.entries()].filter(([u]) => done.manifest.deleted!.some((d) => d.url === u)).flatMap(([, l]) => l)
        .map((l) => JSON.parse(l) as Bundle);
      t.same(deleted.map((b) => [b.type, b.entry![0]!.request]), [['transaction', { method: 'DELETE', url: `${goneType}/${gone.id}` }]],
        `${level}: the deletion is listed`);
    }
    const everything = await runExport(s, `$export?_type=${goneType}`);
    t.notOk(exported(everything).has(`${goneType}/${gone.id}`), 'deleted resources never appear in output');
    t.notOk('deleted' in everything.manifest, 'no deleted list without _since');
  });
});
