/**
 * This process's metrics for GET /metrics in the Prometheus text format, on prom-client (one registry per app, so
 * test servers in one process do not share counters) — https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import { Counter, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter<string>>();

  /** The counter of that name with one label (created on first use); names are ours (constants), never input. */
  counter(name: string, help: string, label: string): Counter<string> {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, c = new Counter({ name, help, labelNames: [label], registers: [this.registry] }));
    return c;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
