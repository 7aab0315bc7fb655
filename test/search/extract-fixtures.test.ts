import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import type { Resource } from '../../src/fhir/types.js';
import { compileIndexPlans, extractIndexRows } from '../../src/search/extract.js';
import { INDEX_TABLES, type IndexRows } from '../../src/search/extract-types.js';
import { createSearchRegistry } from '../../src/search/registry.js';

const fixtures = path.resolve(import.meta.dirname, '../fixtures');
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

const examples: Resource[] = fs.readdirSync(path.join(fixtures, 'r4-examples')).filter((f) => f.endsWith('.json'))
  .map((f) => readJson(path.join(fixtures, 'r4-examples', f)));
const synthea: Resource[] = fs.readdirSync(path.join(fixtures, 'synthea'))
  .flatMap((f) => (readJson(path.join(fixtures, 'synthea', f)).entry as { resource: Resource }[]).map((e) => e.resource));

const registry = createSearchRegistry(loadDefinitions());
const fast = compileIndexPlans(registry);

/** Rows per table as sorted JSON strings, to compare sets. */
const canonical = (rows: IndexRows) => Object.fromEntries(INDEX_TABLES.map((k) => [k, rows[k].map((r) => JSON.stringify(r)).sort()]));

t.test('every R4 example and Synthea resource extracts without an error in any parameter', async (t) => {
  const errors: string[] = [];
  let rows = 0;
  for (const r of [...examples, ...synthea]) {
    const out = extractIndexRows(registry, r, fast, (code, e) => errors.push(`${r.resourceType}/${r.id} ${code}: ${e}`));
    rows += INDEX_TABLES.reduce((n, k) => n + out[k].length, 0);
  }
  t.same(errors, []);
  t.ok(rows > 20_000, `${rows} rows from ${examples.length + synthea.length} resources`);
});

t.test('the fast path gives exactly the rows fhirpath gives, for every parameter over every fixture', async (t) => {
  const reference = compileIndexPlans(registry, { fhirpathOnly: true });
  const differences: string[] = [];
  for (const r of [...examples, ...synthea]) {
    const a = canonical(extractIndexRows(registry, r, fast));
    const b = canonical(extractIndexRows(registry, r, reference));
    for (const table of INDEX_TABLES) {
      const only = (x: string[], y: string[]) => x.filter((v) => !y.includes(v));
      for (const row of only(a[table]!, b[table]!)) differences.push(`${r.resourceType}/${r.id} fast only: ${row}`);
      for (const row of only(b[table]!, a[table]!)) differences.push(`${r.resourceType}/${r.id} fhirpath only: ${row}`);
    }
  }
  t.same(differences.slice(0, 20), [], `${differences.length} differences`);
});

t.test('extraction throughput on the Synthea fixtures (reported, not asserted)', async (t) => {
  for (const r of synthea) extractIndexRows(registry, r, fast);
  const started = process.hrtime.bigint();
  let n = 0;
  for (let round = 0; round < 5; round++) for (const r of synthea) { extractIndexRows(registry, r, fast); n++; }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  t.comment(`full extraction: ${Math.round(n / seconds)} resources/s on one core (${n} resources)`);
  t.pass();
});
