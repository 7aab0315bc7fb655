/**
 * Test PGlite databases copied from one migrated data directory instead of built from nothing. PGlite's initdb (2–5 s
 * of WASM) and the migrations used to run for every test server; now they run once for each version of the source and
 * migrations, and each test opens its own copy (0.3 s to copy, under 1 s to open). Every copy starts as a new
 * database just migrated would, and createDeps still runs the migrations on it (finding them applied).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAllMigrations, migrateAll } from '../../src/app.js';
import { isAlive, openDb } from '../../src/db/open.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** tmpfs when there is one: a test database writes its pages there. */
export const TEST_TMP = process.env.HEARTH_TEST_TMP
  ?? (fs.existsSync('/dev/shm') && isWritable('/dev/shm') ? '/dev/shm' : os.tmpdir());
const TEMPLATES = path.join(TEST_TMP, `hearth-test-pglite-${os.userInfo().uid}`);
/** The copies, each named after the test process that made it (`<pid>-…`). */
const COPIES = path.join(TEMPLATES, 'copies');

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
}

/**
 * Names what the template holds: the migrations, the code that applies them (all of src/, to be safe), PGlite's
 * version and the day (the audit partitions made at migration are by date).
 */
function templateKey(): string {
  const hash = crypto.createHash('sha256');
  const pglite = fs.readFileSync(path.join(ROOT, 'node_modules/@electric-sql/pglite/package.json'));
  hash.update(pglite).update(`\n${new Date().toISOString().slice(0, 10)}\n`);
  for (const file of [...filesUnder(path.join(ROOT, 'migrations')), ...filesUnder(path.join(ROOT, 'src'))]) {
    hash.update(`${path.relative(ROOT, file)}\n`).update(fs.readFileSync(file)).update('\n');
  }
  return hash.digest('hex').slice(0, 16);
}

/** The pid in a lock file; undefined while it is being written or once it is gone. */
function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function lockAgeMs(lock: string): number {
  try {
    return Date.now() - fs.statSync(lock).mtimeMs;
  } catch {
    return 0;
  }
}

/** A data directory (HEARTH_DATA_DIR layout) holding a freshly migrated database, migrateAll as createDeps runs it. */
async function buildTemplate(dir: string): Promise<void> {
  const db = await openDb({ dataDir: dir });
  try {
    await migrateAll(db, loadAllMigrations());
  } finally {
    await db.close(); // also removes the lock file, so copies start unlocked
  }
}

/**
 * Templates of other days or sources (40 MB each, on tmpfs) that no test has copied for an hour: no run still uses
 * them (copyPgliteTemplate touches the one it copies).
 */
function removeOldTemplates(keep: string): void {
  const hourAgo = Date.now() - 3600_000;
  for (const name of fs.readdirSync(TEMPLATES)) {
    const file = path.join(TEMPLATES, name);
    if (name === keep || name.startsWith(`${keep}.`) || name === 'copies') continue;
    try {
      if (fs.statSync(file).mtimeMs < hourAgo) fs.rmSync(file, { recursive: true, force: true });
    } catch { /* another run removed it */ }
  }
}

/** Copies left by test processes that died before their teardown (a tap timeout kills them). */
function removeOrphanCopies(): void {
  for (const name of fs.readdirSync(COPIES)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) fs.rmSync(path.join(COPIES, name), { recursive: true, force: true });
  }
}

/**
 * The template's directory, built by the first test process that needs it; the others wait for it (a lock file
 * naming the builder). A template is published by rename and never changed afterwards, so copying it needs no lock.
 */
async function ensureTemplate(): Promise<string> {
  fs.mkdirSync(COPIES, { recursive: true });
  removeOrphanCopies();
  const key = templateKey();
  const dir = path.join(TEMPLATES, key);
  const lock = `${dir}.lock`;
  for (let waited = 0; !fs.existsSync(dir); waited++) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(lock, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd === undefined) {
      const holder = lockHolder(lock);
      if (holder !== undefined ? !isAlive(holder) : lockAgeMs(lock) > 30_000) fs.rmSync(lock, { force: true }); // its builder died
      else if (waited > 6000) throw new Error(`PGlite test template ${dir} not built within 10 minutes (lock ${lock})`);
      else await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      const building = `${dir}.${process.pid}.tmp`;
      fs.rmSync(building, { recursive: true, force: true });
      await buildTemplate(building);
      fs.renameSync(building, dir);
      removeOldTemplates(key);
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }
  return dir;
}

let template: Promise<string> | undefined;

/** A new data directory (HEARTH_DATA_DIR layout) holding a migrated PGlite database of its own; the caller removes it. */
export async function copyPgliteTemplate(name = 'db'): Promise<string> {
  template ??= ensureTemplate();
  const from = await template;
  const dir = fs.mkdtempSync(path.join(COPIES, `${process.pid}-${name}-`));
  fs.cpSync(from, dir, { recursive: true });
  const now = new Date();
  fs.utimesSync(from, now, now);
  return dir;
}
