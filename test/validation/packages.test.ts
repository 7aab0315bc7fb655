// Tests FHIR NPM packages installed into a tenant (issue #15 §4): the admin API and `hearth package install`, with
// packages built here with tar — https://confluence.hl7.org/display/FHIR/NPM+Package+Specification
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import t from 'tap';
import { type TestServer, startServer } from '../helpers/server.js';
import { freePort, runCli } from '../helpers/cli.js';
import { copyPgliteTemplate } from '../helpers/pglite-template.js';

t.setTimeout(10 * 60 * 1000);

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789' };
const IG = 'http://example.org/ig/StructureDefinition';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-packages-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

/** A .tgz with package/<name> for each file (and anything under other folders). */
async function buildPackage(files: Record<string, unknown>): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(work, 'pkg-'));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  const file = path.join(dir, 'out.tgz');
  await tar.c({ gzip: true, file, cwd: dir }, Object.keys(files));
  return fs.readFileSync(file);
}

const birthSex = { resourceType: 'StructureDefinition', id: 'birthsex', url: `${IG}/birthsex`, name: 'BirthSex', status: 'active', kind: 'complex-type',
  abstract: false, context: [{ type: 'element', expression: 'Patient' }], type: 'Extension', baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension', derivation: 'constraint',
  differential: { element: [{ id: 'Extension.url', path: 'Extension.url', fixedUri: `${IG}/birthsex` },
    { id: 'Extension.value[x]', path: 'Extension.value[x]', min: 1, type: [{ code: 'code' }], binding: { strength: 'required', valueSet: 'http://example.org/ig/ValueSet/birthsex' } }] } };
const basePatient = { resourceType: 'StructureDefinition', id: 'base-patient', url: `${IG}/base-patient`, name: 'BasePatient', status: 'active',
  kind: 'resource', abstract: false, type: 'Patient', baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient', derivation: 'constraint',
  differential: { element: [{ id: 'Patient.name', path: 'Patient.name', min: 1 }] } };
// Named so that it sorts before what it depends on: the installer orders by dependency, not by file name.
const aPatient = { resourceType: 'StructureDefinition', id: 'a-patient', url: `${IG}/a-patient`, name: 'APatient', status: 'active',
  kind: 'resource', abstract: false, type: 'Patient', baseDefinition: `${IG}/base-patient`, derivation: 'constraint',
  differential: { element: [{ id: 'Patient.extension:birthsex', path: 'Patient.extension', sliceName: 'birthsex', min: 1, max: '1',
    type: [{ code: 'Extension', profile: [`${IG}/birthsex`] }] }] } };
const codeSystem = { resourceType: 'CodeSystem', id: 'birthsex', url: 'http://example.org/ig/CodeSystem/birthsex', status: 'active', content: 'complete',
  concept: [{ code: 'F' }, { code: 'M' }, { code: 'UNK' }] };
const valueSet = { resourceType: 'ValueSet', id: 'birthsex', url: 'http://example.org/ig/ValueSet/birthsex', status: 'active',
  compose: { include: [{ system: 'http://example.org/ig/CodeSystem/birthsex' }] } };

const goodPackage = () => buildPackage({
  'package/package.json': { name: 'example.ig', version: '1.0.0', fhirVersions: ['4.0.1'] },
  'package/StructureDefinition-a-patient.json': aPatient,
  'package/StructureDefinition-base-patient.json': basePatient,
  'package/StructureDefinition-birthsex.json': birthSex,
  'package/CodeSystem-birthsex.json': codeSystem,
  'package/ValueSet-birthsex.json': valueSet,
  'package/ImplementationGuide-example.json': { resourceType: 'ImplementationGuide', url: 'http://example.org/ig', name: 'Example', status: 'active', fhirVersion: ['4.0.1'], packageId: 'example.ig' },
  'package/example/Patient-example.json': { resourceType: 'Patient', id: 'example' },
});

const install = (s: TestServer, tgz: Buffer) => s.request('POST', `/admin/tenants/${s.slug}/packages`, { headers: ADMIN, body: { package: tgz.toString('base64') } });

t.test('the admin API installs a package; its profiles are enforced at once; a second install updates in place', async (t) => {
  const s = await startServer(t);
  const tgz = await goodPackage();
  const res = await install(s, tgz);
  t.equal(res.statusCode, 200, res.body.slice(0, 400));
  t.same(res.json(), { name: 'example.ig', version: '1.0.0', installed: { CodeSystem: 1, ValueSet: 1, StructureDefinition: 3 }, skipped: 1 });
  const claims = { resourceType: 'Patient', meta: { profile: [`${IG}/a-patient`] }, name: [{ family: 'Packaged' }] };
  const missing = await s.request('POST', 'Patient', { body: claims });
  t.equal(missing.statusCode, 422, 'the birthsex extension is required');
  t.match(missing.json().issue[0].diagnostics, /Slice extension:birthsex: minimum required = 1/);
  const wrongCode = await s.request('POST', 'Patient', { body: { ...claims, extension: [{ url: `${IG}/birthsex`, valueCode: 'X' }] } });
  t.equal(wrongCode.statusCode, 422);
  t.match(wrongCode.json().issue[0].diagnostics, /X is not in the ValueSet http:\/\/example.org\/ig\/ValueSet\/birthsex/);
  const noName = await s.request('POST', 'Patient', { body: { ...claims, name: undefined, extension: [{ url: `${IG}/birthsex`, valueCode: 'F' }] } });
  t.equal(noName.statusCode, 422, 'the base profile of the package applies too');
  t.equal((await s.request('POST', 'Patient', { body: { ...claims, extension: [{ url: `${IG}/birthsex`, valueCode: 'F' }] } })).statusCode, 201);
  t.equal((await install(s, tgz)).statusCode, 200, 'installed again');
  t.equal((await s.request('GET', 'StructureDefinition?_summary=count')).json().total, 3, 'updated, not duplicated');
  const history = (await s.request('GET', `StructureDefinition?url=${IG}/a-patient`)).json().entry[0].resource;
  t.equal(history.meta.versionId, '2');
  const auditor = { headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } };
  const events = (await s.request('GET', 'AuditEvent?subtype=package-install', auditor)).json();
  t.equal((events.entry ?? []).length, 2, 'each install is audited');
});

t.test('a bad package is refused whole and the tenant keeps what it had', async (t) => {
  const s = await startServer(t);
  const lacking = await buildPackage({
    'package/package.json': { name: 'broken.ig', version: '0.1.0' },
    'package/ValueSet-birthsex.json': valueSet,
    'package/StructureDefinition-a-patient.json': { ...aPatient, baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient' },
  });
  const res = await install(s, lacking);
  t.equal(res.statusCode, 422, res.body.slice(0, 300));
  t.match(res.json().issue[0].diagnostics, new RegExp(`${IG}/birthsex`.replaceAll('/', '\\/')), 'the missing definition is named');
  t.equal((await s.request('GET', 'ValueSet?_summary=count')).json().total, 0, 'nothing of it was written');
  const notTar = await install(s, Buffer.from('not a tarball at all'));
  t.equal(notTar.statusCode, 400);
  t.match(notTar.json().issue[0].diagnostics, /not a gzipped tar archive|package\.json is missing/);
  const noManifest = await install(s, await buildPackage({ 'package/ValueSet-birthsex.json': valueSet }));
  t.equal(noManifest.statusCode, 400);
  t.match(noManifest.json().issue[0].diagnostics, /package\/package.json is missing/);
  const badJson = await install(s, await buildPackage({ 'package/package.json': { name: 'x', version: '1' }, 'package/ValueSet-x.json': '{"resourceType":' }));
  t.equal(badJson.statusCode, 400);
  t.match(badJson.json().issue[0].diagnostics, /ValueSet-x.json in the package is not a JSON object/);
  t.equal((await s.request('POST', `/admin/tenants/${s.slug}/packages`, { headers: ADMIN, body: { package: 42 } })).statusCode, 400);
});

t.test('hearth package install <tenant> <file.tgz> in its own process', async (t) => {
  const dataDir = process.env.DATABASE_URL ? path.join(work, 'data') : await copyPgliteTemplate('packages');
  t.teardown(() => { if (!process.env.DATABASE_URL) fs.rmSync(dataDir, { recursive: true, force: true }); });
  const env = { ...(process.env.DATABASE_URL ? {} : { DATABASE_URL: '' }), HEARTH_DATA_DIR: dataDir, HEARTH_LOG_LEVEL: 'silent',
    HEARTH_ADMIN_URL: `http://127.0.0.1:${await freePort()}`, HEARTH_ADMIN_TOKEN: '' };
  const slug = `pk-${crypto.randomBytes(3).toString('hex')}`;
  t.equal((await runCli(['tenant', 'create', slug], env)).status, 0);
  const file = path.join(work, 'example.ig.tgz');
  fs.writeFileSync(file, await goodPackage());
  const res = await runCli(['package', 'install', slug, file], env);
  t.equal(res.status, 0, res.stderr);
  t.match(res.stdout, /example\.ig#1\.0\.0\tinstalled 1 CodeSystem, 1 ValueSet, 3 StructureDefinition\tskipped 1/);
  const usage = await runCli(['package', 'install', slug], env);
  t.not(usage.status, 0);
});
