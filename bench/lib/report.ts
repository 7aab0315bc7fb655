/** The bench's output: a markdown table on stdout and, with --out, the JSON document scripts compare across runs. */
import fs from 'node:fs';
import os from 'node:os';
import type { ResultRow, Skip } from './stats.js';

export interface Machine {
  cpus: string;
  memory: string;
  node: string;
  postgres: string;
  settings: Record<string, string>;
}

export interface Report {
  machine: Machine;
  run: { date: string; database: 'postgres' | 'pglite'; patients: number; resources: number; seconds: number };
  results: ResultRow[];
  skipped: Skip[];
}

export function describeMachine(db: { postgres: string; settings: Record<string, string> }): Machine {
  const cpus = os.cpus();
  return {
    cpus: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown'}`,
    memory: `${Math.round(os.totalmem() / 1024 ** 3)} GiB`,
    node: process.version,
    ...db,
  };
}

const LABELS: Record<string, string> = {
  resources_per_s: 'resources/s', requests_per_s: 'requests/s', p50_ms: 'p50 ms', p95_ms: 'p95 ms', p99_ms: 'p99 ms',
  rss_mb: 'peak RSS MB', node_cpu_us: 'Node CPU µs', postgres_cpu_us: 'PostgreSQL CPU µs',
  driver_cpu_us: 'bench driver CPU µs',
};

const cell = (x: number | null): string => (x === null ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: 2 }));

export function markdownTable(report: Report): string {
  const lines = ['| figure | Hearth | baseline | Hearth ÷ baseline |', '| --- | ---: | ---: | ---: |'];
  for (const r of report.results) {
    const note = r.note ? ` (${r.note})` : '';
    const target = r.target ? `; target ≥ ${r.target.ratio}: **${r.target.met ? 'pass' : 'FAIL'}**` : '';
    lines.push(`| ${r.suite} ${LABELS[r.metric]}${note}${target} | ${cell(r.hearth)} | ${cell(r.baseline)} | ${cell(r.ratio)} |`);
  }
  for (const s of report.skipped) lines.push(`| ${s.suite}: skipped — ${s.reason} | — | — | — |`);
  return lines.join('\n');
}

export function summaryLine(report: Report): string {
  const m = report.machine;
  return `${report.run.date.slice(0, 10)}, ${report.run.database}, ${report.run.patients} patients `
    + `(${report.run.resources.toLocaleString('en-US')} resources), ${Math.round(report.run.seconds)} s; `
    + `${m.cpus}, ${m.memory}, Node ${m.node}, ${m.postgres.split(' on ')[0]}`;
}

export function writeJson(file: string, report: Report): void {
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
