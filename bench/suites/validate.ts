/**
 * validate: the generated resources through `POST [type]/$validate`, 4 at a time → resources/s (issue #15, Speed). The
 * checks a write runs — the R4 schema with its required bindings, reference forms and target types — without the
 * write; there is no raw baseline for it, so the row has none. Every resource must come back without an error.
 */
import { patientBundle } from '../data/bundle.js';
import type { BenchContext } from '../lib/context.js';
import { agent, expectStatus, request } from '../lib/http.js';
import { type SuiteOutcome, rate, row, runPool, timed } from '../lib/stats.js';

const CONCURRENCY = 4;
/** Patients whose resources are validated: enough for a steady rate, few enough to keep the suite short. */
const PATIENTS = 50;

interface Outcome { issue: { severity: string; diagnostics?: string }[] }

export async function runValidate(ctx: BenchContext): Promise<SuiteOutcome> {
  const resources: { type: string; body: string }[] = [];
  for (let i = 0; i < Math.min(PATIENTS, ctx.options.patients); i++) {
    for (const e of patientBundle(ctx.options.seed, i).bundle.entry ?? []) {
      const r = e.resource as { resourceType: string };
      resources.push({ type: r.resourceType, body: JSON.stringify(r) });
    }
  }
  const http = agent(CONCURRENCY);
  const run = await timed(() => runPool(resources, CONCURRENCY, async (r) => {
    const reply = await request(http, 'POST', `${ctx.base}/${r.type}/$validate`, r.body);
    expectStatus(reply, 200, `${r.type}/$validate`);
    const error = (JSON.parse(reply.body) as Outcome).issue.find((i) => i.severity === 'error');
    if (error) throw new Error(`$validate found an error in a generated ${r.type}: ${error.diagnostics}`);
  }));
  http.destroy();
  return { rows: [row('validate', 'resources_per_s', rate({ seconds: run.seconds, count: resources.length }), null,
    `${resources.length} resources of ${Math.min(PATIENTS, ctx.options.patients)} patients, ${CONCURRENCY} at a time; no raw baseline`)] };
}
