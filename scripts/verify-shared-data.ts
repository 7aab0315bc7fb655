// Loads the shared Synthea bundles (support batches, conditional-refs/, self-contained/ and large/) into a fresh tenant and checks
// that the stored count per resource type equals the count in the files. Usage: tsx scripts/verify-shared-data.ts <shared/data>
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildApp, createDeps } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createTenant, deleteTenant, schemaFor } from '../src/storage/tenants.js';
import { mintLocalToken } from '../src/auth/tokens.js';
import { ident, sql } from '../src/db/sql.js';
import { sealedColumns } from '../src/db/vault.js';
import type { Bundle } from '../src/fhir/types.js';

const dataDir = path.resolve(process.argv[2] ?? '../shared/data');
const synthea = path.join(dataDir, 'synthea');
const files = [
  ...['0-hospitalInformation1625911868739.json', '0-practitionerInformation1625911868739.json']
    .map((f) => path.join(synthea, 'conditional-refs', f)),
  ...fs.readdirSync(path.join(synthea, 'conditional-refs')).filter((f) => f.endsWith('.json') && !f.startsWith('0-')).sort()
    .map((f) => path.join(synthea, 'conditional-refs', f)),
  ...fs.readdirSync(path.join(synthea, 'self-contained')).filter((f) => f.endsWith('.json')).sort()
    .map((f) => path.join(synthea, 'self-contained', f)),
  ...fs.readdirSync(path.join(synthea, 'large')).filter((f) => f.endsWith('.json')).map((f) => path.join(synthea, 'large', f)),
];

// The database is the test suite's (CI runs this after it): the same key-encryption key, unless one is given.
const keyFile = process.env.HEARTH_KEY_SECRET || process.env.HEARTH_KEY_FILE ? {}
  : { HEARTH_KEY_FILE: path.resolve(import.meta.dirname, '..', '.hearth-test.key') };
const config = loadConfig({ ...process.env, HEARTH_LOG_LEVEL: 'warn', HEARTH_DATA_DIR: fs.mkdtempSync('/tmp/hearth-verify-'),
  HEARTH_BASE_URL: 'http://hearth.verify', ...keyFile });
const deps = await createDeps(config);
const app = buildApp(deps);
const slug = `verify-${crypto.randomBytes(4).toString('hex')}`;
const tenant = await createTenant(deps.db, slug, deps.migrations.tenant);
const { token } = await mintLocalToken(deps.db, deps.auth, tenant, `${config.baseUrl}/fhir/${slug}`, 'system/*.cruds');
const authorization = `Bearer ${token}`;
const expected = new Map<string, number>();
let ok = true;
try {
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const bundle = JSON.parse(text) as Bundle;
    for (const e of bundle.entry ?? []) {
      const type = e.resource?.resourceType;
      if (type) expected.set(type, (expected.get(type) ?? 0) + 1);
    }
    const started = Date.now();
    const res = await app.inject({ method: 'POST', url: `/fhir/${slug}`, payload: text,
      headers: { authorization, 'content-type': 'application/fhir+json', prefer: 'return=minimal' } });
    const secs = (Date.now() - started) / 1000;
    const entries = bundle.entry?.length ?? 0;
    const failures = res.statusCode === 200
      ? (res.json() as Bundle).entry?.filter((e) => !/^20[01]/.test(e.response?.status ?? '')).length ?? 0 : entries;
    console.log(`${res.statusCode} ${path.basename(file)}: ${entries} entries (${bundle.type}) in ${secs.toFixed(1)} s` +
      `${failures ? `, ${failures} failed` : ''}`);
    if (res.statusCode !== 200 || failures) {
      ok = false;
      console.log(res.body.slice(0, 600));
    }
  }
  for (const [type, count] of [...expected].sort()) {
    const res = await app.inject({ method: 'GET', url: `/fhir/${slug}/${type}/_history?_count=0`, headers: { authorization } });
    const stored = (res.json() as Bundle).total;
    const same = stored === count;
    ok &&= same;
    console.log(`${same ? 'ok  ' : 'FAIL'} ${type}: file ${count}, stored ${stored}`);
  }
  // Bodies may be encrypted: read through the database layer, which opens them, a batch at a time.
  let unresolved = 0;
  const held = /"reference":\s?"([A-Za-z]+[?]|urn:uuid:)/;
  await deps.db.cursor<{ content: unknown }>(sql`SELECT type, id, version, ${sealedColumns(schemaFor(slug))}
    FROM ${ident(schemaFor(slug))}.resource WHERE NOT deleted`, 1000, async (rows) => {
    unresolved += rows.filter((r) => held.test(JSON.stringify(r.content))).length;
  });
  ok &&= unresolved === 0;
  console.log(`${unresolved === 0 ? 'ok  ' : 'FAIL'} resources still holding a conditional or urn:uuid reference: ${unresolved}`);
} finally {
  await deleteTenant(deps.db, slug, { operator: 'verify-shared-data' });
  await app.close();
  await deps.db.close();
}
console.log(ok ? 'shared data verified' : 'shared data verification FAILED');
process.exit(ok ? 0 : 1);
