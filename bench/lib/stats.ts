/** Latency percentiles and the result rows every suite reports (one figure: Hearth, its baseline, their ratio). */

export type Metric = 'resources_per_s' | 'requests_per_s' | 'p50_ms' | 'p95_ms' | 'p99_ms' | 'rss_mb' | 'node_cpu_us'
  | 'postgres_cpu_us' | 'driver_cpu_us';

const UNITS: Record<Metric, string> = {
  resources_per_s: 'resources/s', requests_per_s: 'requests/s', p50_ms: 'ms', p95_ms: 'ms', p99_ms: 'ms', rss_mb: 'MB',
  node_cpu_us: 'µs', postgres_cpu_us: 'µs', driver_cpu_us: 'µs',
};

export interface ResultRow {
  suite: string;
  metric: Metric;
  unit: string;
  hearth: number | null;
  baseline: number | null;
  /** hearth ÷ baseline: above 1 is better for rates, worse for latencies and memory. */
  ratio: number | null;
  note?: string;
  /** A requirement on the ratio (issue #6 §8: audited ÷ unaudited read req/s ≥ 0.80) and whether this run met it. */
  target?: Target;
}

export interface Target {
  /** The ratio must be at least this. */
  ratio: number;
  met: boolean;
}

export interface Skip {
  suite: string;
  reason: string;
}

export interface SuiteOutcome {
  rows: ResultRow[];
  skipped?: Skip;
  /** Peak RSS (MB) of Hearth's server process during the suite's Hearth phase. */
  rssMb?: number;
  /** Peak RSS (MB) of the minimal Fastify + pg server under the read load: the memory baseline of every suite. */
  floorMb?: number;
}

const round = (x: number): number => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 100) / 100);

export function row(suite: string, metric: Metric, hearth: number | null, baseline: number | null, note?: string): ResultRow {
  const ratio = hearth !== null && baseline !== null && baseline > 0 ? Math.round((hearth / baseline) * 1000) / 1000 : null;
  return { suite, metric, unit: UNITS[metric], hearth: hearth === null ? null : round(hearth),
    baseline: baseline === null ? null : round(baseline), ratio, ...(note ? { note } : {}) };
}

/** The row with a required minimum ratio; a row without a ratio does not meet it. */
export function withTarget(r: ResultRow, ratio: number): ResultRow {
  return { ...r, target: { ratio, met: r.ratio !== null && r.ratio >= ratio } };
}

/** Nearest-rank percentile of unsorted latencies (ms). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Timing {
  /** Seconds of wall clock spent in the timed work. */
  seconds: number;
  /** Units of work done (resources, requests). */
  count: number;
  /** Per-operation latencies (ms), when measured. */
  latencies?: number[];
}

export const rate = (t: Timing): number => (t.seconds > 0 ? t.count / t.seconds : 0);

/** Runs `work` on every item with at most `concurrency` in flight; returns each call's latency in ms. */
export async function runPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      const t0 = performance.now();
      await work(item);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return latencies;
}

/** Runs fn and returns its wall-clock seconds together with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const t0 = performance.now();
  const result = await fn();
  return { seconds: (performance.now() - t0) / 1000, result };
}
