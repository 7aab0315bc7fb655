import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import '../helpers/cli.js'; // HEARTH_KEY_FILE: the key-encryption key of the shared test database
import { SUITES } from '../../bench/options.js';
import type { Report } from '../../bench/lib/report.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const METRICS = new Set(['resources_per_s', 'requests_per_s', 'p50_ms', 'p95_ms', 'p99_ms', 'rss_mb', 'node_cpu_us', 'postgres_cpu_us', 'driver_cpu_us']);

/** Runs `npm run bench`'s entry at smoke size; PGlite unless DATABASE_URL names a PostgreSQL. */
function runBench(out: string): Promise<string> {
  const args = ['--import', 'tsx', 'bench/run.ts', '--patients', '5', '--seconds', '1', '--iterations', '8', '--out', out,
    ...(process.env.DATABASE_URL ? [] : ['--pglite'])];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 240_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`bench failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** One 5-patient run of every suite, shared by the tests below. */
let run: Promise<{ stdout: string; report: Report }> | undefined;
function benchRun(): Promise<{ stdout: string; report: Report }> {
  run ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-smoke-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'bench.json');
    const stdout = await runBench(file);
    return { stdout, report: JSON.parse(fs.readFileSync(file, 'utf8')) as Report };
  })();
  return run;
}

t.test('a 5-patient bench run reports every suite with positive figures or a documented skip', async (t) => {
  const { stdout, report } = await benchRun();
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

t.test('the audit suite compares reads (and searches) audited and unaudited, with the issue #6 §8 target', async (t) => {
  const { stdout, report } = await benchRun();
  const read = report.results.find((r) => r.suite === 'audit/read' && r.metric === 'requests_per_s');
  t.ok(read, 'audit/read requests/s row');
  t.ok(read!.hearth! > 0 && read!.baseline! > 0, 'requests/s audited and unaudited are positive');
  t.ok(read!.ratio! > 0, 'their ratio');
  t.equal(read!.target?.ratio, 0.8, 'target: audited ≥ 0.80 of unaudited');
  t.equal(read!.target?.met, read!.ratio! >= 0.8, 'pass/fail follows the ratio');
  const perRequest = /([0-9.]+) AuditEvents per audited request/.exec(read!.note ?? '')?.[1];
  t.ok(Number(perRequest) > 0, 'the audited side wrote AuditEvents');
  t.match(stdout, /audit\/read requests\/s .*target ≥ 0\.8: \*\*(pass|FAIL)\*\*/, 'pass/fail in the table');
  for (const metric of ['p50_ms', 'p99_ms']) {
    t.ok(report.results.some((r) => r.suite === 'audit/read' && r.metric === metric && r.hearth! > 0 && r.baseline! > 0), `audit/read ${metric}`);
  }
  if (process.platform === 'linux') {
    t.ok(report.results.some((r) => r.suite === 'audit/read' && r.metric === 'node_cpu_us' && r.hearth! > 0 && r.baseline! > 0),
      'audit/read: Node CPU a request, audited and unaudited');
  }
  const search = report.results.find((r) => r.suite === 'audit/search' && r.metric === 'requests_per_s');
  const skip = report.skipped.find((s) => s.suite === 'audit/search');
  t.ok(search ? search.hearth! > 0 && search.baseline! > 0 && search.ratio! > 0 : skip?.reason, 'audit/search: figures or a skip');
});
