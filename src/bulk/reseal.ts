/**
 * The rekey job's part for files (issue #17 §2): after a rotation the files of finished exports and imports, and the
 * audit archives, are rewritten under the tenant's newest key, and files in clear get sealed, so the older key
 * versions can be destroyed.
 * A job still writing (queued or running) keeps its files as they are; the oldest key version they use is answered
 * and stays until a later rotation finds the job finished.
 */
import fs from 'node:fs';
import path from 'node:path';
import { archiveCipher } from '../audit/retention.js';
import { RESEALING, fileKeyVersions, resealFile } from '../db/sealed-file.js';
import type { Deps } from '../interactions/context.js';
import { getJob } from '../jobs/queue.js';
import type { Tenant } from '../storage/tenants.js';
import { exportStore } from './store.js';

export interface Resealed { files: number; oldestInUse?: number }

export async function resealFiles(deps: Deps, tenant: Tenant, version: number): Promise<Resealed> {
  const store = exportStore(deps);
  const out: Resealed = { files: 0 };
  for (const { tenant: slug, job } of await store.jobs()) {
    if (slug !== tenant.slug) continue;
    const owner = await getJob(deps.db, slug, job);
    const writing = owner?.status === 'queued' || owner?.status === 'running';
    for (const name of await store.names(slug, job)) {
      try {
        const versions = await store.keyVersions(slug, job, name);
        if (writing) {
          if (versions.length > 0) out.oldestInUse = Math.min(out.oldestInUse ?? versions[0]!, versions[0]!);
        } else if (versions.length !== 1 || versions[0] !== version) {
          await store.reseal(slug, job, name);
          out.files++;
        }
      } catch (e) {
        // Removed meanwhile (expired, cancelled, erased): nothing left to reseal.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }
  out.files += await resealArchives(deps, tenant, version);
  return out;
}

/** The tenant's audit archives (audit/retention.ts), finished files all. */
async function resealArchives(deps: Deps, tenant: Tenant, version: number): Promise<number> {
  const dir = path.join(deps.config.auditArchiveDir, tenant.slug);
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  let n = 0;
  for (const name of names.filter((f) => f.endsWith('.ndjson') && !f.endsWith(RESEALING))) {
    const file = path.join(dir, name);
    const versions = await fileKeyVersions(file, name);
    if (versions.length === 1 && versions[0] === version) continue;
    await resealFile(file, archiveCipher(deps.db, tenant.schema, file)!);
    n++;
  }
  return n;
}
