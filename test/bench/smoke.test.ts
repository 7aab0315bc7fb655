import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SUITES } from '../../bench/options.js';
import type { Report } from '../../bench/lib/report.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const METRICS = new Set(['resources_per_s', 'requests_per_s', 'p50_ms', 'p95_ms', 'p99_ms', 'rss_mb']);

/** Runs `npm run bench`'s entry at smoke size; PGlite unless DATABASE_URL names a PostgreSQL. */
function runBench(out: string): Promise<string> {
  const args = ['--import', 'tsx', 'bench/run.ts', '--patients', '5', '--seconds', '1', '--iterations', '8', '--out', out,
    ...(process.env.DATABASE_URL ? [] : ['--pglite'])];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 120_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`bench failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

t.test('a 5-patient bench run reports every suite with positive figures or a documented skip', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-smoke-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bench.json');
  const stdout = await runBench(file);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as Report;
  t.match(stdout, /\| figure \| Hearth \| baseline \| Hearth ÷ baseline \|/, 'markdown table on stdout');
  for (const key of ['cpus', 'memory', 'node', 'postgres', 'settings'] as const) t.ok(report.machine[key], `machine.${key}`);
  t.ok(report.run.resources > 5 * 20, 'the data was loaded');
  for (const suite of [...SUITES, 'memory']) {
    const rows = report.results.filter((r) => r.suite === suite || r.suite.startsWith(`${suite}/`));
    const skip = report.skipped.find((s) => s.suite === suite);
    t.ok(rows.length > 0 || (skip && skip.reason.length > 0), `${suite}: rows or a skip with its reason`);
  }
  t.ok(report.results.some((r) => r.suite === 'memory' && r.metric === 'rss_mb'), 'memory row');
  for (const r of report.results) {
    t.ok(METRICS.has(r.metric), `${r.suite} ${r.metric} is a known metric`);
    for (const side of ['hearth', 'baseline'] as const) {
      const v = r[side];
      t.ok(v === null ? Boolean(r.note) : v > 0, `${r.suite} ${r.metric}: ${side} positive, or absent with a note`);
    }
    if (r.hearth !== null && r.baseline !== null) t.ok(r.ratio! > 0, `${r.suite} ${r.metric}: ratio`);
  }
});
