/** `hearth tenant` beside a running server and the confirmation of `tenant delete` (issue #22 §14). */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { type CliResult, ROOT, freePort, runCli } from './helpers/cli.js';
import { copyPgliteTemplate } from './helpers/pglite-template.js';

// Child processes that each compile the CLI and open the database: beyond the default on a loaded two-core machine.
t.setTimeout(10 * 60 * 1000);

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cli-tenant-'));
const newSlug = () => `cli-t-${crypto.randomBytes(3).toString('hex')}`;

/**
 * A private PGlite data directory already migrated (a copy of the tests' template), so that the first command on it
 * does not spend its time in initdb; removed after this file. test/cli.test.ts migrates a new directory.
 */
const copies: string[] = [];
t.teardown(() => { for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true }); });
const pgliteDir = async () => {
  const dir = await copyPgliteTemplate('cli-tenant');
  copies.push(dir);
  return dir;
};

/** PostgreSQL when DATABASE_URL is set, else PGlite in a private data directory; no server answers at the admin URL. */
const dbEnv = async (): Promise<Record<string, string>> => ({
  ...(process.env.DATABASE_URL ? { HEARTH_DATA_DIR: tempDir() } : { DATABASE_URL: '', HEARTH_DATA_DIR: await pgliteDir() }),
  HEARTH_LOG_LEVEL: 'silent', HEARTH_ADMIN_URL: `http://127.0.0.1:${await freePort()}`, HEARTH_ADMIN_TOKEN: '' });

const slugs = async (env: Record<string, string>) => {
  const list = await runCli(['tenant', 'list'], env);
  if (list.status !== 0) throw new Error(list.stderr);
  return list.stdout.split('\n').map((line) => line.split('\t')[0]);
};

/** The CLI on a pseudo-terminal (util-linux `script`), with `input` typed at it. */
function runOnTerminal(args: string[], env: Record<string, string>, input: string): CliResult {
  const command = ['node', '--import', 'tsx', 'src/cli.ts', ...args].join(' ');
  const res = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, ...env }, input, encoding: 'utf8' });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

async function startServer(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], { cwd: ROOT, env: { ...process.env, ...env },
    stdio: 'ignore' });
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error('server exited early');
    try {
      if ((await fetch(`http://127.0.0.1:${env.HEARTH_PORT}/ready`)).ok) return child;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new Error('server did not become ready');
}

t.test('tenant create, list and delete while a PGlite server runs go through its admin API (failed: data directory in use)',
  async (t) => {
    // PGlite even when DATABASE_URL is set: its data directory is what one process alone may open.
    const port = await freePort();
    const env = { DATABASE_URL: '', HEARTH_DATA_DIR: await pgliteDir(), HEARTH_PORT: String(port), HEARTH_HOST: '127.0.0.1',
      HEARTH_ADMIN_TOKEN: '', HEARTH_ADMIN_URL: '', HEARTH_BASE_URL: '', HEARTH_LOG_LEVEL: 'silent' };
    const server = await startServer(env);
    const exited = new Promise((resolve) => server.on('exit', resolve));
    t.teardown(async () => { server.kill('SIGTERM'); await exited; }); // before its data directory is removed
    const slug = newSlug();

    const created = await runCli(['tenant', 'create', slug], env);
    t.equal(created.status, 0, created.stderr);
    t.equal(created.stdout, `created tenant ${slug}\n`);
    t.ok((await slugs(env)).includes(slug), 'listed through the server');
    const answer = await fetch(`http://127.0.0.1:${port}/fhir/${slug}/metadata`);
    t.equal(answer.status, 200, 'the running server serves the new tenant at once');

    const deleted = await runCli(['tenant', 'delete', slug, '--yes'], env);
    t.equal(deleted.status, 0, deleted.stderr);
    t.notOk((await slugs(env)).includes(slug), 'gone from the list');
    t.equal((await fetch(`http://127.0.0.1:${port}/fhir/${slug}/metadata`)).status, 404, 'and from the server');
  });

t.test('tenant create on a PGlite directory held by a server that does not answer says to set HEARTH_ADMIN_URL or stop it',
  async (t) => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'hearth.lock'), String(process.pid)); // held by this live process, as by a server
    const port = await freePort();
    const res = await runCli(['tenant', 'create', newSlug()], { DATABASE_URL: '', HEARTH_DATA_DIR: dir,
      HEARTH_ADMIN_URL: `http://127.0.0.1:${port}`, HEARTH_LOG_LEVEL: 'silent' });
    t.equal(res.status, 1);
    t.match(res.stderr, `hearth: Data directory ${dir} is in use by process ${process.pid}, but no Hearth server answers at `
      + `http://127.0.0.1:${port}: set HEARTH_ADMIN_URL to the running server (this command then goes through its admin API), `
      + 'or stop it');
  });

t.test('tenant delete without a TTY and without --yes is refused, nothing deleted; --yes deletes', async (t) => {
  const env = await dbEnv();
  const slug = newSlug();
  t.equal((await runCli(['tenant', 'create', slug], env)).status, 0);
  t.teardown(() => runCli(['tenant', 'delete', slug, '--yes'], env));

  const refused = await runCli(['tenant', 'delete', slug], env);
  t.equal(refused.status, 1);
  t.equal(refused.stderr, `hearth: tenant ${slug} was not deleted: without a terminal to confirm on, add --yes to delete it `
    + 'and all its data\n');
  t.ok((await slugs(env)).includes(slug), 'the tenant is still there');

  const deleted = await runCli(['tenant', 'delete', slug, '--yes'], env);
  t.equal(deleted.status, 0, deleted.stderr);
  t.equal(deleted.stdout, `deleted tenant ${slug}\n`);
  t.notOk((await slugs(env)).includes(slug));
});

t.test('tenant delete on a terminal asks for the slug: another answer deletes nothing, the slug deletes (script(1), util-linux, gives the terminal)',
  async (t) => {
    t.equal(spawnSync('script', ['-qec', 'true', '/dev/null']).status, 0, 'script(1) runs (Debian: bsdutils, essential)');
    const env = await dbEnv();
    const slug = newSlug();
    t.equal((await runCli(['tenant', 'create', slug], env)).status, 0);
    t.teardown(() => runCli(['tenant', 'delete', slug, '--yes'], env));

    const declined = runOnTerminal(['tenant', 'delete', slug], env, 'y\n');
    t.equal(declined.status, 1);
    t.match(declined.stdout, `Delete tenant ${slug} and all its data? Type its slug to confirm:`);
    t.match(declined.stdout, `tenant ${slug} was not deleted: the answer was not its slug`);
    t.ok((await slugs(env)).includes(slug), 'still there');

    const confirmed = runOnTerminal(['tenant', 'delete', slug], env, `${slug}\n`);
    t.equal(confirmed.status, 0, confirmed.stdout);
    t.match(confirmed.stdout, `deleted tenant ${slug}`);
    t.notOk((await slugs(env)).includes(slug), 'deleted');
  });
