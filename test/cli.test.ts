import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { decodeJwt } from '../src/auth/jws.js';
import { runCli } from './helpers/cli.js';

const root = path.resolve(import.meta.dirname, '..');
const synthea = path.join(root, 'test/fixtures/synthea/Andrea_Dach_76f26ce3-5aac-4b16-ac35-321ff6a7f63c.json');

// A dozen child processes, each compiling the CLI and opening the database: beyond the default five minutes on a
// loaded two-core machine.
t.setTimeout(15 * 60 * 1000);

const cli = (args: string[], env: Record<string, string>, input?: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args],
    { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', ...(input !== undefined ? { input } : {}) });


const freePort = () => new Promise<number>((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address() as net.AddressInfo;
    srv.close(() => resolve(port));
  });
});

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-cli-'));

/**
 * PostgreSQL when DATABASE_URL is set, else PGlite; always a private data directory. The tests of this file run one
 * after another and share it, so that PGlite's initdb runs once.
 */
const dbEnv: Record<string, string> = process.env.DATABASE_URL
  ? { HEARTH_DATA_DIR: tempDir() } : { DATABASE_URL: '', HEARTH_DATA_DIR: tempDir() };

t.test('tenant create / list / delete and migrate from the command line', async (t) => {
  // No server answers at HEARTH_ADMIN_URL, so the tenant commands open the database themselves.
  const env = { ...dbEnv, HEARTH_LOG_LEVEL: 'silent', HEARTH_ADMIN_URL: `http://127.0.0.1:${await freePort()}`, HEARTH_ADMIN_TOKEN: '' };
  const slug = `cli-${process.pid}`;
  t.equal(cli(['migrate'], env).status, 0);
  const created = cli(['tenant', 'create', slug], env);
  t.equal(created.status, 0, created.stderr);
  const list = cli(['tenant', 'list'], env);
  t.match(list.stdout, new RegExp(`^default\\t`, 'm'), 'default tenant exists');
  t.match(list.stdout, new RegExp(`^${slug}\\tt_${slug.replace(/-/g, '_')}\\tactive\\t-$`, 'm'), 'slug, schema, status, display name');
  t.equal(cli(['tenant', 'create', slug], env).status, 1, 'duplicate refused');
  t.equal(cli(['tenant', 'suspend', slug], env).status, 1, 'a suspension needs a reason');
  const suspended = cli(['tenant', 'suspend', slug, '--reason', 'Contract ended'], env);
  t.match(suspended.stdout, new RegExp(`^${slug}\\t\\S+\\tsuspended\\t`), suspended.stderr);
  t.match(cli(['tenant', 'update', slug, '--display-name', 'Acme Clinic'], env).stdout, /\tsuspended\tAcme Clinic\n$/);
  t.match(cli(['tenant', 'show', slug], env).stdout, /^suspendedReason Contract ended$/m);
  t.match(cli(['tenant', 'activate', slug], env).stdout, /\tactive\tAcme Clinic\n$/);
  t.equal(cli(['tenant', 'delete', slug, '--yes'], env).status, 0);
  t.notMatch(cli(['tenant', 'list'], env).stdout, slug);
  t.equal(cli(['frobnicate'], env).status, 64, 'unknown command → usage');
  t.equal(cli(['toString'], env).status, 64, 'not fooled by Object.prototype');
});

t.test('bad configuration stops the start with one clear message', async (t) => {
  const res = cli(['serve'], { HEARTH_PORT: 'eighty' });
  t.equal(res.status, 1);
  t.match(res.stderr, /configuration error: HEARTH_PORT must be a whole number/);
});

t.test('client, user, launch, token and keys on the database when no server answers', async (t) => {
  const env = { ...dbEnv, HEARTH_LOG_LEVEL: 'silent', HEARTH_ADMIN_URL: `http://127.0.0.1:${await freePort()}`,
    HEARTH_ADMIN_TOKEN: '', HEARTH_BASE_URL: '', HEARTH_PORT: '8080' };
  const slug = `cli-db-${crypto.randomBytes(3).toString('hex')}`;
  t.equal(cli(['tenant', 'create', slug], env).status, 0);
  t.teardown(() => { cli(['tenant', 'delete', slug, '--yes'], env); });

  const conf = cli(['client', 'create', '--tenant', slug, '--name', 'CLI app', '--type', 'confidential',
    '--redirect-uri', 'https://app.example.org/cb', '--redirect-uri', 'http://localhost:3000/cb', '--scope', 'launch user/*.rs'], env);
  t.equal(conf.status, 0, conf.stderr);
  t.match(conf.stdout, /^client_id [A-Za-z0-9_-]{22}\nclient_secret [A-Za-z0-9_-]{43}\n$/);

  const jwkFile = path.join(tempDir(), 'key.json');
  const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  fs.writeFileSync(jwkFile, JSON.stringify({ ...publicKey.export({ format: 'jwk' }), kid: 'k1' }));
  const backend = cli(['client', 'create', '--tenant', slug, '--name', 'Bulk', '--type', 'backend', '--jwks-file', jwkFile,
    '--scope', 'system/*.rs'], env);
  t.equal(backend.status, 0, backend.stderr);
  t.match(backend.stdout, /^client_id [A-Za-z0-9_-]{22}\n$/, 'no secret for a backend client');
  t.equal(cli(['client', 'create', '--tenant', slug, '--type', 'public'], env).status, 64, 'missing --name → usage');

  const user = cli(['user', 'create', '--tenant', slug, '--username', 'nurse', '--fhir-user', 'Practitioner/n1', '--password-stdin', '--totp'],
    env, 'correct horse battery\n');
  t.equal(user.status, 0, user.stderr);
  t.match(user.stdout, /^id [0-9a-f-]{36}\nusername nurse\nfhirUser Practitioner\/n1\ntotp_secret [A-Z2-7]{32}\notpauth_uri otpauth:\/\/totp\//);

  const id = /^id (\S+)$/m.exec(user.stdout)![1]!;
  const listed = cli(['user', 'list', '--tenant', slug, '--username', 'nur'], env);
  t.equal(listed.status, 0, listed.stderr);
  t.equal(listed.stdout, `${id}\tnurse\tPractitioner/n1\tactive\ttotp\t(unmanaged)\n`, 'user list: id, username, fhirUser, status, factor, roles');
  const role = cli(['role', 'set', 'ward-nurse', '--tenant', slug, '--scopes', 'user/Observation.rs?category=vital-signs user/Patient.rs',
    '--relationship', 'care-team,encounter', '--description', 'Ward nurses'], env);
  t.equal(role.status, 0, role.stderr);
  t.equal(role.stdout, 'ward-nurse\tuser/Observation.rs?category=vital-signs user/Patient.rs\trelated: care-team,encounter\tWard nurses\n');
  t.match(cli(['role', 'list', '--tenant', slug], env).stdout, /^doctor\tuser\/\*\.crus\trelated: /m, 'the default roles are listed');
  const badRole = cli(['role', 'set', 'broken', '--tenant', slug, '--scopes', 'user/Observation.rs?colour=red'], env);
  t.equal(badRole.status, 1);
  t.match(badRole.stderr, /query cannot be evaluated/);
  t.match(cli(['user', 'update', id, '--roles', 'ward-nurse,lab', '--tenant', slug], env).stdout, /\tlab,ward-nurse\n$/, 'user update --roles');
  t.equal(cli(['role', 'delete', 'ward-nurse', '--tenant', slug], env).status, 1, 'a role in use is not deleted');
  const sessions = cli(['break-glass', 'list', '--tenant', slug, '--status', 'all'], env);
  t.equal(sessions.status, 0, sessions.stderr);
  t.equal(sessions.stdout, '', 'no break-the-glass session yet');
  t.equal(cli(['break-glass', 'review', '00000000-0000-4000-8000-000000000000', '--note', 'checked', '--tenant', slug], env).status, 1,
    'an unknown session is an error');
  t.equal(cli(['break-glass', 'review', '00000000-0000-4000-8000-000000000000', '--tenant', slug], env).status, 64, '--note is required');
  const adminName = `ops-${crypto.randomBytes(3).toString('hex')}`;
  const made = cli(['admin', 'create', '--username', adminName, '--password-stdin'], env, 'correct horse battery staple\n');
  t.equal(made.status, 0, made.stderr);
  const adminId = made.stdout.split('\t')[0]!;
  t.match(made.stdout, new RegExp(`^[0-9a-f-]{36}\t${adminName}\tactive\t-\n$`), 'admin create: id, username, status, factor');
  t.match(cli(['admin', 'list'], env).stdout, new RegExp(`^${adminId}\t${adminName}\tactive`, 'm'), 'admin list');
  t.match(cli(['admin', 'disable', adminId], env).stdout, /\tdisabled\t/, 'admin disable');
  t.equal(cli(['admin', 'delete', adminId], env).status, 0, 'admin delete');
  t.equal(cli(['admin', 'show', adminId], env).status, 1, 'gone');
  t.match(cli(['user', 'disable', id, '--tenant', slug], env).stdout, /\tdisabled\t/, 'user disable');
  t.equal(cli(['user', 'list', '--tenant', slug, '--status', 'active'], env).stdout, '', 'no active user left');
  const reset = cli(['user', 'password-reset', id, '--tenant', slug], env);
  t.match(reset.stdout, new RegExp(`^reset_url http://localhost:8080/auth/${slug}/password-reset\\?code=[A-Za-z0-9_-]{43}\nexpires_at `));
  t.equal(cli(['user', 'show', 'no-such-user', '--tenant', slug], env).status, 1, 'an unknown user is an error');
  t.equal(cli(['user', 'delete', id, '--tenant', slug], env).stdout, `deleted user ${id}\n`);

  const lifetimes = cli(['tenant', 'lifetimes', slug, 'session_idle_minutes=15', 'access_token_seconds=900'], env);
  t.equal(lifetimes.status, 0, lifetimes.stderr);
  t.equal(lifetimes.stdout, 'access_token_seconds 900\nrefresh_token_days 90\nsession_hours 8\nsession_idle_minutes 15\nbreak_glass_minutes 60\n');
  t.match(cli(['tenant', 'lifetimes', slug], env).stdout, /^access_token_seconds 900$/m, 'kept');
  t.equal(cli(['tenant', 'lifetimes', slug, 'colour=1'], env).status, 1, 'an unknown setting is an error');
  t.equal(cli(['tenant', 'lifetimes', slug, 'session_hours'], env).status, 64, 'not name=value → usage');

  const launch = cli(['launch', '--tenant', slug, '--patient', 'p1', '--encounter', 'e1'], env);
  t.equal(launch.status, 0, launch.stderr);
  t.match(launch.stdout, new RegExp(`^launch [A-Za-z0-9_-]{43}\\niss http://localhost:8080/fhir/${slug}\\n$`));

  const token = cli(['token', '--tenant', slug, '--scope', 'system/*.read', '--expires-in', '120'], env);
  t.equal(token.status, 0, token.stderr);
  t.match(token.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'just the token, so TOKEN=$(hearth token …) works');
  const { claims } = decodeJwt(token.stdout.trim());
  t.equal(claims.aud, `http://localhost:8080/fhir/${slug}`, 'aud: the configured or local FHIR base');
  t.equal((claims.exp as number) - (claims.iat as number), 120);
  t.equal(claims.scope, 'system/*.read');

  const banana = cli(['token', '--tenant', slug, '--scope', 'system/*.read banana'], env);
  t.equal(banana.status, 1);
  t.match(banana.stderr, /Unknown or malformed scope\(s\): banana/);

  const rotated = cli(['keys', 'rotate'], env);
  t.equal(rotated.status, 0, rotated.stderr);
  t.match(rotated.stdout, /^kid [A-Za-z0-9_-]{16}\n$/);
});

t.test('a data directory held by a server that does not answer: the error says to use its admin API', async (t) => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'hearth.lock'), String(process.pid)); // held by this live process, as by a server
  const res = cli(['token', '--scope', 'system/*.read'], { DATABASE_URL: '', HEARTH_DATA_DIR: dir,
    HEARTH_ADMIN_URL: `http://127.0.0.1:${await freePort()}`, HEARTH_LOG_LEVEL: 'silent' });
  t.equal(res.status, 1);
  t.match(res.stderr, /is in use by process \d+, but no Hearth server answers at http:\/\/127\.0\.0\.1:\d+: set HEARTH_ADMIN_URL/);
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

t.test('serve: prints how to get a token; SIGTERM lets the in-flight request finish, then exits 0; logs carry no PHI', async (t) => {
  const port = await freePort();
  const env = { ...dbEnv, HEARTH_PORT: String(port), HEARTH_HOST: '127.0.0.1', HEARTH_ADMIN_TOKEN: '', HEARTH_ADMIN_URL: '' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'],
    { cwd: root, env: { ...process.env, ...env, HEARTH_LOG_LEVEL: 'info' } });
  let logs = '';
  child.stdout.on('data', (d) => { logs += d; });
  child.stderr.on('data', (d) => { logs += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitForReady(port, child);
  for (let i = 0; i < 50 && !logs.includes('Try it:'); i++) await new Promise((r) => setTimeout(r, 100));

  const dataDir = dbEnv.HEARTH_DATA_DIR!;
  const tokenFile = path.join(dataDir, 'admin-token');
  t.equal(fs.statSync(tokenFile).mode & 0o777, 0o600, 'admin token file readable by its owner only');
  t.match(fs.readFileSync(tokenFile, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/);
  const command = `HEARTH_PORT=${port} HEARTH_DATA_DIR=${dataDir} node bin/hearth token --scope 'system/*.cruds'`;
  const lines = logs.split('\n');
  t.ok(lines.includes(`Get an access token:  TOKEN=$(${command})`), 'one copy-pasteable line that yields a token (the README\'s)');
  t.ok(lines.includes(`Try it:  curl -H "Authorization: Bearer $TOKEN" http://localhost:${port}/fhir/default/Patient`),
    'and a curl that uses it');

  // What a newcomer does: the token command in another shell, through the running server's admin API.
  const token = await runCli(['token', '--scope', 'system/*.cruds'], { ...env, HEARTH_LOG_LEVEL: 'silent' });
  t.equal(token.status, 0, token.stderr);
  t.equal(decodeJwt(token.stdout.trim()).claims.aud, `http://localhost:${port}/fhir/default`, 'for the base the examples use');
  const inflight = fetch(`http://localhost:${port}/fhir/default`, { method: 'POST',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal', authorization: `Bearer ${token.stdout.trim()}` },
    body: fs.readFileSync(synthea) });
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  const res = await inflight;
  t.equal(res.status, 200, 'the transaction in flight completed');
  t.equal(await exited, 0, 'clean exit');
  t.match(logs, /"route":"\/fhir\/:tenant"/, 'request logged by route template');
  t.notMatch(logs, /Dach|Andrea/, 'no patient names in the logs');
});
