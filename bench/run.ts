/**
 * `npm run bench` (issue #5): Hearth's ingest, create, read, search and export speed and its memory, each beside the
 * raw limit of the same machine measured in the same run, printed as a ratio; and what auditing costs reads and
 * searches, beside the same server with auditing off (issue #6 §8); and bookings beside single creates (issue #18).
 * Options: bench/options.ts.
 */
import { useToken } from './lib/http.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Options, type SuiteName, parseOptions } from './options.js';
import { Child } from './lib/child.js';
import type { BenchContext } from './lib/context.js';
import { ensureDatabase } from './lib/database.js';
import { type Report, describeMachine, markdownTable, summaryLine, writeJson } from './lib/report.js';
import { type ResultRow, type Skip, type SuiteOutcome, row } from './lib/stats.js';
import { runAudit } from './suites/audit.js';
import { runBook } from './suites/book.js';
import { runNotify } from './suites/notify.js';
import { runCreate } from './suites/create.js';
import { runExport } from './suites/export.js';
import { runIngest } from './suites/ingest.js';
import { runRead } from './suites/read.js';
import { runSearch } from './suites/search.js';
import { runImport } from './suites/import.js';
import { runValidate } from './suites/validate.js';
import { runEncryption } from './suites/encryption.js';

const RUNNERS: Record<SuiteName, (ctx: BenchContext) => Promise<SuiteOutcome>> = {
  ingest: runIngest, create: runCreate, book: runBook, read: runRead, search: runSearch, export: runExport, audit: runAudit, import: runImport, validate: runValidate, encryption: runEncryption, notify: runNotify,
};

const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

/** Hearth in its own process; the baselines in a second one (PostgreSQL) or inside Hearth's (PGlite). */
async function startServers(o: Options, dir: string, id: string) {
  const common = { scratchSchema: `bench_raw_${id}`, rawPool: 32 };
  const databaseUrl = o.pglite ? undefined : o.databaseUrl;
  const hearth = await Child.start({ role: 'hearth', ...common, tenant: `bench-${id}`, importDir: path.join(dir, 'import'),
    ...(databaseUrl ? { databaseUrl } : { dataDir: path.join(dir, 'pgdata') }) }, path.join(dir, 'hearth.log'));
  const info = await hearth.call<{ port: number; schema: string; hostsRaw: boolean; token: string }>('info');
  useToken(info.token);
  let raw = hearth;
  try {
    if (!info.hostsRaw) {
      raw = await Child.start({ role: 'raw', ...common, databaseUrl, hearthSchema: info.schema }, path.join(dir, 'raw.log'));
    }
    await raw.call('setup');
    /** A fresh process for the read baseline, so its RSS is a bare server's and not what earlier suites left. */
    const startReadBaseline = async () => {
      const child = info.hostsRaw ? hearth : await Child.start({ role: 'raw', ...common, databaseUrl,
        hearthSchema: info.schema }, path.join(dir, 'raw-read.log'));
      const { port } = await child.call<{ port: number }>('listen');
      const stop = async () => { if (child !== hearth) await child.stop(); };
      return { child, origin: `http://127.0.0.1:${port}`, stop };
    };
    return { hearth, raw, info, startReadBaseline };
  } catch (e) {
    if (raw !== hearth) await raw.stop().catch(() => undefined);
    await hearth.stop().catch(() => undefined);
    throw e;
  }
}

/**
 * Memory rows: Hearth's peak RSS in each suite beside one floor, the minimal Fastify + pg server's peak under the
 * read load (the write baselines run as batch clients, whose RSS says nothing about a server's).
 */
function memoryRows(ctx: BenchContext, outcomes: [SuiteName, SuiteOutcome][]): ResultRow[] {
  const floor = outcomes.find(([, o]) => o.floorMb !== undefined)?.[1].floorMb ?? null;
  const note = floor !== null ? undefined
    : ctx.raw === ctx.hearth ? 'PGlite: the baselines share the Hearth process' : 'no floor: the read suite did not run';
  const measured = outcomes.filter(([, o]) => o.rssMb !== undefined);
  const rows = measured.map(([name, o]) => row(name, 'rss_mb', o.rssMb!, floor, note));
  const highest = Math.max(...measured.map(([, o]) => o.rssMb!));
  return [...rows, row('memory', 'rss_mb', highest, floor, note ?? 'highest peak over all suites')];
}

/** Runs the chosen suites in order (ingest always first: it loads the data the others use). */
async function runSuites(ctx: BenchContext): Promise<{ rows: ResultRow[]; skipped: Skip[] }> {
  const outcomes: [SuiteName, SuiteOutcome][] = [];
  const names = ['ingest', ...ctx.options.suites.filter((s) => s !== 'ingest')] as SuiteName[];
  for (const name of names) {
    progress(name === 'ingest' ? `ingest: ${ctx.options.patients} patients` : name);
    const out = await RUNNERS[name](ctx);
    outcomes.push([name, out]);
    if (out.skipped) progress(`${name} skipped: ${out.skipped.reason}`);
  }
  return {
    rows: [...outcomes.flatMap(([, o]) => o.rows), ...memoryRows(ctx, outcomes)],
    skipped: outcomes.flatMap(([, o]) => (o.skipped ? [o.skipped] : [])),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!options.pglite) await ensureDatabase(options.databaseUrl);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-'));
  const id = crypto.randomBytes(4).toString('hex');
  const t0 = performance.now();
  const servers = await startServers(options, dir, id).catch((e: Error) => {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  let ok = false;
  try {
    const ctx: BenchContext = { options, hearth: servers.hearth, raw: servers.raw, schema: servers.info.schema, token: servers.info.token,
      base: `http://127.0.0.1:${servers.info.port}/fhir/bench-${id}`, startReadBaseline: servers.startReadBaseline,
      importDir: path.join(dir, 'import'),
      state: { patients: [], resources: 0 } };
    const { rows, skipped } = await runSuites(ctx);
    const machine = describeMachine(await servers.raw.call('machine'));
    const report: Report = { machine, results: rows, skipped, run: { date: new Date().toISOString(),
      database: options.pglite ? 'pglite' : 'postgres', patients: options.patients, resources: ctx.state.resources,
      seconds: (performance.now() - t0) / 1000 } };
    process.stdout.write(`${summaryLine(report)}\n\n${markdownTable(report)}\n`);
    if (options.out) writeJson(options.out, report);
    ok = true;
  } finally {
    if (servers.raw !== servers.hearth) await servers.raw.stop().catch((e: Error) => progress(`raw stop: ${e.message}`));
    await servers.hearth.stop().catch((e: Error) => progress(`hearth stop: ${e.message}`));
    fs.rmSync(path.join(dir, 'pgdata'), { recursive: true, force: true });
    if (ok) fs.rmSync(dir, { recursive: true, force: true });
    else progress(`server logs kept in ${dir}`);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
