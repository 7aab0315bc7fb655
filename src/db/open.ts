/** Opens the configured database: PostgreSQL when DATABASE_URL is set, else PGlite in a locked data directory. */
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './db.js';
import { openPostgres } from './postgres.js';
import { openPglite } from './pglite.js';
import { type KeyProvider, Vault } from './vault.js';

export interface DbOptions {
  databaseUrl?: string;
  dataDir?: string;
  poolSize?: number;
  /** PostgreSQL: each connection's statement_timeout (HEARTH_STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs?: number;
  /** The key-encryption key of encryption at rest (db/vault.ts); without one, sealed rows cannot be read. */
  keys?: KeyProvider;
  /** Whether new tenants get a data key (HEARTH_ENCRYPTION; default true when keys are given). */
  sealNewTenants?: boolean;
}

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

/** Whether a process of this pid runs (EPERM: it does, as another user). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** PGlite does not lock its files; two processes on one directory would corrupt it, so we take a lock file. */
export function lockDataDir(dir: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'hearth.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        throw new DataDirLockedError(`Data directory ${dir} is in use by process ${holder}`);
      }
      fs.rmSync(file, { force: true }); // stale lock from a process that died
    }
  }
  throw new DataDirLockedError(`Could not lock data directory ${dir}`);
}

export async function openDb(options: DbOptions): Promise<Db> {
  const vault = new Vault(options.keys, options.sealNewTenants ?? true);
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options.poolSize ?? 10, options.statementTimeoutMs, vault);
  if (!options.dataDir) return openPglite(undefined, vault);
  const unlock = lockDataDir(options.dataDir);
  try {
    const db = await openPglite(path.join(options.dataDir, 'pgdata'), vault);
    const close = db.close.bind(db);
    return { ...db, close: async () => { try { await close(); } finally { unlock(); } } };
  } catch (e) {
    unlock();
    throw e;
  }
}
