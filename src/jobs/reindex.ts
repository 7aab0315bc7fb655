/** $reindex as a job: re-runs the write hooks (search indexing) over a tenant's current resources, resumably. */
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import type { Resource } from '../fhir/types.js';
import type { Db } from '../db/db.js';
import type { WriteHook } from '../storage/write.js';
import { withoutReferenceChecks } from '../storage/links.js';
import type { JobContext } from './worker.js';

const BATCH = 500;

interface Row { rid: number; type: string; id: string; content: Resource }

export async function reindex(ctx: JobContext<{ db: Db; writeHooks: WriteHook[] }>): Promise<{ reindexed: number }> {
  const { deps, tenant, job } = ctx;
  const schema = ident(tenant.schema);
  const types = Array.isArray(job.params.types) ? (job.params.types as string[]) : undefined;
  const typeFilter = types ? sql`AND type = ANY(${`{${types.join(',')}}`}::text[])` : sql``;
  let cursor = Number(job.progress.cursor ?? 0);
  let done = Number(job.progress.done ?? 0);
  const total = job.progress.total ?? (await deps.db.query<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM ${schema}.resource WHERE NOT deleted ${typeFilter}`))[0]!.n;
  for (;;) {
    const batch = await deps.db.transaction(async (tx) => {
      // What exists is indexed as it is: a reference that dangles today does not stop the job.
      await withoutReferenceChecks(tx);
      const rows = await tx.query<Row>(sql`SELECT rid, type, id, version, ${sealedColumns(tenant.schema)} FROM ${schema}.resource
        WHERE NOT deleted AND rid > ${cursor} ${typeFilter} ORDER BY rid LIMIT ${BATCH}`);
      for (const r of rows) {
        for (const hook of deps.writeHooks) {
          await hook(tx, tenant.schema, { rid: r.rid, type: r.type, id: r.id, resource: r.content, isNew: false,
            version: Number(r.content.meta?.versionId ?? 0), replay: true });
        }
      }
      return rows;
    });
    if (batch.length === 0) break;
    cursor = batch[batch.length - 1]!.rid;
    done += batch.length;
    await ctx.progress({ done, total, cursor });
  }
  return { reindexed: done };
}
