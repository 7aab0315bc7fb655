/** `npm run bench` options: data size, database, output, and the per-suite workload derived from the size. */
import { parseArgs } from 'node:util';
import { DEFAULT_SEED } from './data/bundle.js';

export const SUITES = ['ingest', 'create', 'book', 'read', 'search', 'export', 'audit', 'import', 'validate', 'encryption', 'notify'] as const;
export type SuiteName = (typeof SUITES)[number];

export interface Options {
  patients: number;
  seed: number;
  pglite: boolean;
  databaseUrl: string;
  out?: string;
  /** Seconds of load per side in the read suite, and per side and load (read, search) in the audit suite's rounds. */
  seconds: number;
  /** Single POSTs in the create suite, and bookings (one free Slot each) in the book suite. */
  creates: number;
  /** Requests per search query and side. */
  searchIterations: number;
  suites: SuiteName[];
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/hearth_bench';
/** ~110 resources per patient: 500 patients ≈ 55k resources on PostgreSQL (the run stays under 10 minutes here). */
export const DEFAULT_PATIENTS = { postgres: 500, pglite: 100 };
/** 10,000 patients ≈ 1.1 million resources. */
export const LARGE_PATIENTS = 10_000;

export const USAGE = `Usage: npm run bench -- [--patients N | --scale large] [--pglite] [--out FILE] [--seconds S]
  [--iterations N] [--suites ingest,create,book,read,search,export,audit,import,validate,encryption,notify] [--seed N]
  DATABASE_URL selects PostgreSQL (default ${DEFAULT_DATABASE_URL}; created if missing).`;

const clamp = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(x)));

function positive(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number\n${USAGE}`);
  return n;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options {
  const { values } = parseArgs({ args: argv, options: {
    patients: { type: 'string' }, scale: { type: 'string' }, pglite: { type: 'boolean', default: false },
    out: { type: 'string' }, seconds: { type: 'string' }, suites: { type: 'string' }, seed: { type: 'string' },
    iterations: { type: 'string' },
  } });
  if (values.scale !== undefined && values.scale !== 'large' && values.scale !== 'default') {
    throw new Error(`--scale must be default or large\n${USAGE}`);
  }
  const pglite = values.pglite!;
  const patients = positive(values.patients, 'patients')
    ?? (values.scale === 'large' ? LARGE_PATIENTS : DEFAULT_PATIENTS[pglite ? 'pglite' : 'postgres']);
  const suites = (values.suites?.split(',') ?? [...SUITES]) as SuiteName[];
  const unknown = suites.filter((s) => !SUITES.includes(s));
  if (unknown.length) throw new Error(`unknown suite ${unknown.join(', ')}\n${USAGE}`);
  return {
    patients,
    seed: positive(values.seed, 'seed') ?? DEFAULT_SEED,
    pglite,
    databaseUrl: env.DATABASE_URL || DEFAULT_DATABASE_URL,
    ...(values.out ? { out: values.out } : {}),
    seconds: positive(values.seconds, 'seconds') ?? 10,
    creates: clamp(patients * 2, 100, 5000),
    searchIterations: positive(values.iterations, 'iterations') ?? clamp(patients / 4, 40, 200),
    suites,
  };
}
