import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

const root = path.resolve(import.meta.dirname, '..');
const synthea = path.join(root, 'test/fixtures/synthea/Andrea_Dach_76f26ce3-5aac-4b16-ac35-321ff6a7f63c.json');

const cli = (args: string[], env: Record<string, string>) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });

const freePort = () => new Promise<number>((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address() as net.AddressInfo;
    srv.close(() => resolve(port));
  });
});

const dbEnv = (): Record<string, string> => process.env.DATABASE_URL
  ? {} : { DATABASE_URL: '', HEARTH_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cli-')) };

t.test('tenant create / list / delete and migrate from the command line', async (t) => {
  const env = { ...dbEnv(), HEARTH_LOG_LEVEL: 'silent' };
  const slug = `cli-${process.pid}`;
  t.equal(cli(['migrate'], env).status, 0);
  const created = cli(['tenant', 'create', slug], env);
  t.equal(created.status, 0, created.stderr);
  const list = cli(['tenant', 'list'], env);
  t.match(list.stdout, new RegExp(`^default\\t`, 'm'), 'default tenant exists');
  t.match(list.stdout, new RegExp(`^${slug}\\tt_${slug.replace(/-/g, '_')}$`, 'm'));
  t.equal(cli(['tenant', 'create', slug], env).status, 1, 'duplicate refused');
  t.equal(cli(['tenant', 'delete', slug], env).status, 0);
  t.notMatch(cli(['tenant', 'list'], env).stdout, slug);
  t.equal(cli(['frobnicate'], env).status, 64, 'unknown command → usage');
});

t.test('bad configuration stops the start with one clear message', async (t) => {
  const res = cli(['serve'], { HEARTH_PORT: 'eighty' });
  t.equal(res.status, 1);
  t.match(res.stderr, /configuration error: HEARTH_PORT must be a whole number/);
});

async function waitForReady(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error('server exited early');
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become ready');
}

t.test('serve: SIGTERM lets the in-flight request finish, then exits 0; logs carry no PHI', async (t) => {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'],
    { cwd: root, env: { ...process.env, ...dbEnv(), HEARTH_PORT: String(port), HEARTH_HOST: '127.0.0.1', HEARTH_LOG_LEVEL: 'info' } });
  let logs = '';
  child.stdout.on('data', (d) => { logs += d; });
  child.stderr.on('data', (d) => { logs += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitForReady(port, child);
  const inflight = fetch(`http://127.0.0.1:${port}/fhir/default`, { method: 'POST',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: fs.readFileSync(synthea) });
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  const res = await inflight;
  t.equal(res.status, 200, 'the transaction in flight completed');
  t.equal(await exited, 0, 'clean exit');
  t.match(logs, /"route":"\/fhir\/:tenant"/, 'request logged by route template');
  t.notMatch(logs, /Dach|Andrea/, 'no patient names in the logs');
});
