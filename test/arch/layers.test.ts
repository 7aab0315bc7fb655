/**
 * The layer rules (issue 13 §4, §7): the rule set built from layers.cjs passes on src/, fails with the rule's name on
 * a deliberately wrong import and on a cycle, and the README's Layout section says what layers.cjs says.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const { LAYERS } = require(path.join(ROOT, 'layers.cjs')) as {
  LAYERS: { name: string; paths: string[]; uses: string[]; role: string }[];
};

interface Violation { rule: { name: string }; from: string; to: string }

/** Runs dependency-cruiser's CLI with our config over cwd/src; the JSON summary's violations. */
function cruise(cwd: string): Violation[] {
  const bin = path.join(ROOT, 'node_modules/.bin/depcruise');
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // tap's TypeScript loader is not needed by the cruiser
  const r = spawnSync(bin, ['src', '--config', path.join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'json'],
    { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (!r.stdout) throw new Error(`depcruise printed nothing: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

t.test('src/ keeps its layers: no violation, no cycle', async (t) => {
  const violations = cruise(ROOT);
  t.same(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`), []);
});

t.test('a wrong import and a cycle fail with the names of their rules', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-layers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  write('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }));
  write('package.json', JSON.stringify({ type: 'module' }));
  // search may not import storage (storage runs what search compiles)
  write('src/storage/rows.ts', 'export interface Row { id: string }\n');
  write('src/search/bad.ts', "import type { Row } from '../storage/rows.js';\nexport type Found = Row;\n");
  // core may not import interactions, even for a type
  write('src/interactions/context.ts', "export interface Deps { db: unknown }\n");
  write('src/fhir/bad.ts', "import type { Deps } from '../interactions/context.js';\nexport type D = Deps;\n");
  // a cycle inside one layer
  write('src/db/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
  write('src/db/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
  const found = cruise(dir).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
  t.ok(found.includes('layer-search: src/search/bad.ts → src/storage/rows.ts'), found.join('\n'));
  t.ok(found.includes('layer-core: src/fhir/bad.ts → src/interactions/context.ts'), found.join('\n'));
  t.ok(found.some((v) => v.startsWith('no-circular: src/db/a.ts')), found.join('\n'));
  t.notOk(found.some((v) => v.includes('src/storage/rows.ts →')), 'storage itself breaks no rule');
});

t.test('every file of src/ belongs to exactly one layer', async (t) => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${d}/${e.name}`);
      else if (e.name.endsWith('.ts')) files.push(`${d}/${e.name}`);
    }
  };
  walk('src');
  const owners = (f: string) => LAYERS.filter((l) => l.paths.some((p) => (p.endsWith('/') ? f.startsWith(p) : f === p)));
  t.same(files.filter((f) => owners(f).length !== 1), []);
  for (const l of LAYERS) for (const u of l.uses) t.ok(LAYERS.findIndex((x) => x.name === u) < LAYERS.indexOf(l), `${l.name} uses only lower layers (${u})`);
});

t.test("the README's Layout section is the rule set's", async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const layout = readme.slice(readme.indexOf('\n## Layout'), readme.indexOf('\n## ', readme.indexOf('\n## Layout') + 5));
  t.ok(layout.length > 20, 'README has a Layout section');
  for (const l of LAYERS) {
    const row = layout.split('\n').find((line) => line.startsWith(`| ${l.name} |`));
    t.ok(row, `Layout lists the layer ${l.name}`);
    if (!row) continue;
    const cells = row.split('|').map((c) => c.trim());
    t.same(cells[2]!.split(',').map((s) => s.trim().replace(/`/g, '')), l.paths, `${l.name}: folders`);
    t.same(cells[3] === '—' ? [] : cells[3]!.split(',').map((s) => s.trim()), l.uses, `${l.name}: may import`);
    t.equal(cells[4], l.role, `${l.name}: role`);
  }
});
