/**
 * A tenant loads a large code system of its own (LOINC and SNOMED CT are licensed and not shipped, issue #15 §6) as
 * CodeSystem NDJSON with `hearth import`, and the terminology engine then answers from it: look-up, hierarchy and a
 * paged expansion of a 20,000-concept system.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { freePort, runCli } from '../helpers/cli.js';
import { copyPgliteTemplate } from '../helpers/pglite-template.js';
import { openDb } from '../../src/db/open.js';
import { keyOptions } from '../../src/db/vault.js';
import { loadConfig } from '../../src/config.js';
import { canonicalStore } from '../../src/storage/canonical.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { Terminology } from '../../src/terminology/terminology.js';

t.setTimeout(10 * 60 * 1000);

const SYSTEM = 'http://example.org/lab-codes';

t.test('hearth import loads CodeSystem NDJSON; the engine expands and looks up from it', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cs-load-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const dataDir = process.env.DATABASE_URL ? path.join(work, 'data') : await copyPgliteTemplate('cs-load');
  t.teardown(() => { if (!process.env.DATABASE_URL) fs.rmSync(dataDir, { recursive: true, force: true }); });
  const env = { ...(process.env.DATABASE_URL ? {} : { DATABASE_URL: '' }), HEARTH_DATA_DIR: dataDir, HEARTH_LOG_LEVEL: 'silent',
    HEARTH_ADMIN_URL: `http://127.0.0.1:${await freePort()}`, HEARTH_ADMIN_TOKEN: '' };
  const slug = `cs-${crypto.randomBytes(3).toString('hex')}`;
  t.equal((await runCli(['tenant', 'create', slug], env)).status, 0);
  // 200 panels of 100 tests each: 20,200 concepts, the panels' children nested.
  const concept = Array.from({ length: 200 }, (_, p) => ({ code: `P${p}`, display: `Panel ${p}`,
    concept: Array.from({ length: 100 }, (_, i) => ({ code: `T${p}-${i}`, display: `Test ${i} of panel ${p}` })) }));
  const file = path.join(work, 'codesystems.ndjson');
  fs.writeFileSync(file, [
    JSON.stringify({ resourceType: 'CodeSystem', id: 'lab-codes', url: SYSTEM, version: '2026', status: 'active', content: 'complete', concept }),
    JSON.stringify({ resourceType: 'ValueSet', id: 'panel-7', url: 'http://example.org/vs/panel-7', status: 'active',
      compose: { include: [{ system: SYSTEM, filter: [{ property: 'concept', op: 'descendent-of', value: 'P7' }] }] } }),
  ].join('\n'));
  const res = await runCli(['import', slug, file], env);
  t.equal(res.status, 0, res.stderr);
  t.match(res.stdout, /imported 2\tfailed 0/);

  const db = await openDb({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir: process.env.DATABASE_URL ? undefined : dataDir,
    ...keyOptions(loadConfig(process.env)) });
  t.teardown(() => db.close());
  // The tenant's own canonical store (bodies are encrypted: it finds them by their url index rows).
  const tx = new Terminology(canonicalStore(db, schemaFor(slug)));
  const cs = await tx.requireCodeSystem(SYSTEM);
  t.equal(cs.concepts.length, 20_200);
  t.equal(cs.get('T7-42')?.display, 'Test 42 of panel 7');
  t.same(cs.get('T7-42')?.parents, ['P7']);
  const vs = await tx.valueSet('http://example.org/vs/panel-7');
  const page = await tx.expand(vs, { offset: 90, count: 20 });
  t.equal(page.total, 100);
  t.same(page.contains.map((m) => m.code), Array.from({ length: 10 }, (_, i) => `T7-${90 + i}`));
  const all = await tx.expand({ compose: { include: [{ system: SYSTEM }] } }, { count: 5, filter: 'panel 199' });
  t.equal(all.total, 101, 'the text filter over the whole system');
});
