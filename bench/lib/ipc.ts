/** The driver ↔ bench child protocol: start options in BENCH_CHILD, then {id, op, args} calls answered by id. */

export interface ChildOptions {
  /** hearth: bench/server.ts (Hearth itself); raw: bench/raw-server.ts (the PostgreSQL baselines). */
  role: 'hearth' | 'raw';
  databaseUrl?: string;
  /** PGlite data directory (PGlite mode only). */
  dataDir?: string;
  tenant?: string;
  hearthSchema?: string;
  scratchSchema: string;
  /** Hearth: HEARTH_IMPORT_DIR, where the import suite writes its NDJSON files. */
  importDir?: string;
  /** Connections of the raw baseline's pool (PostgreSQL). */
  rawPool: number;
}

export type Handler = (op: string, args: unknown) => Promise<unknown>;

/** Process-level calls every child answers: its RSS, and a full collection before a measured phase. */
const common: Record<string, () => Promise<unknown>> = {
  rss: async () => process.memoryUsage.rss(),
  gc: async () => { (globalThis as { gc?: () => void }).gc?.(); },
};

/** Answers the driver's calls; signals readiness with message id 0. */
export function serveIpc(handle: Handler): void {
  let tornDown = false;
  process.on('message', (m: { id: number; op: string; args: unknown }) => {
    if (m.op === 'teardown') tornDown = true;
    (common[m.op]?.() ?? handle(m.op, m.args)).then(
      (result) => process.send!({ id: m.id, ok: true, result }),
      (e: Error) => process.send!({ id: m.id, ok: false, error: e.stack ?? e.message }));
  });
  // Ctrl-C reaches the whole process group; the driver decides, and its going away is handled below.
  process.on('SIGINT', () => undefined);
  // The driver went away (finished, interrupted or crashed): drop what this run created, then stop.
  process.on('disconnect', () => {
    const cleanup = tornDown ? Promise.resolve() : handle('teardown', {}).catch(() => undefined);
    const timer = setTimeout(() => process.exit(1), 15_000);
    void cleanup.then(() => { clearTimeout(timer); process.exit(0); });
  });
  process.send!({ id: 0, ok: true, result: 'ready' });
}

export function childOptions(): ChildOptions | undefined {
  return process.env.BENCH_CHILD ? JSON.parse(process.env.BENCH_CHILD) as ChildOptions : undefined;
}
