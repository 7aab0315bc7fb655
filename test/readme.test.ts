/**
 * The README runs as written (issue 22 §13): its "Try it", Search and custom-parameter shell blocks are extracted
 * and run by bash against a server started as `npm start` starts it (`node bin/hearth serve`, PGlite, a fresh data
 * directory), and what they print is what the text says. The one change made to the blocks: the port of
 * localhost:8080 becomes a free one (the commands find the server through HEARTH_PORT, as the start banner says).
 * Every curl runs with --fail-with-body (and a newline after its output), so an example answering 4xx/5xx fails the test.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The first ```sh block after a heading line. */
function blockAfter(heading: string): string {
  const at = readme.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README has no heading '${heading}'`);
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error(`No sh block after '${heading}'`);
  return m[1]!;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-readme-'));
const env = { ...process.env, DATABASE_URL: '', HEARTH_DATA_DIR: dataDir, HEARTH_PORT: String(port), HEARTH_HOST: '127.0.0.1',
  HEARTH_ADMIN_TOKEN: '', HEARTH_ADMIN_URL: '', HEARTH_BASE_URL: '', HEARTH_LOG_LEVEL: 'info',
  // As on a fresh install: no key-encryption key configured, so the server generates its file beside the data directory.
  HEARTH_KEY_FILE: '', HEARTH_KEY_SECRET: '',
};
let banner = '';
// tap's process-info hook re-adds its loader to NODE_OPTIONS of every child; the CLI runs as a user runs it, without.
const PLAIN = 'unset NODE_OPTIONS\n';
const server: ChildProcess = spawn('bash', ['-c', `${PLAIN}exec node bin/hearth serve`], { cwd: root, env });
server.stdout!.on('data', (d) => { banner += d; });
server.stderr!.on('data', (d) => { banner += d; });
t.teardown(async () => {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(`${dataDir}.key`, { force: true });
});
for (let i = 0; i < 300 && !banner.includes('Try it:'); i++) await new Promise((r) => setTimeout(r, 100));

/** Runs shell text with bash in the repository, localhost:8080 pointing at the test server. */
function bash(script: string): { status: number | null; stdout: string; stderr: string } {
  const text = `${PLAIN}set -eu\ncurl() { command curl --fail-with-body "$@"; echo; }\n${script.replaceAll('localhost:8080', `localhost:${port}`)}`;
  const r = spawnSync('bash', ['-c', text], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tryIt = blockAfter('## Try it');
const search = blockAfter('## Search');
const custom = blockAfter('### Custom search parameters');
const booking = blockAfter('### Availability, finding and booking (issue #18 §1–§3)');
const terminology = blockAfter('### Terminology (issue #15 §6)');
const profiles = blockAfter('### Profiles (issue #15 §4)');
const encryption = blockAfter('### Encryption at rest (issue #17 §1–§2)');
const subscriptions = blockAfter('## Subscriptions');

t.test('npm start prints the token command that "Try it" starts with', async (t) => {
  t.match(banner, 'Try it:', `the server started: ${banner.slice(0, 500)}`);
  const printed = /Get an access token:\s+(.*)/.exec(banner)?.[1]?.replace(/HEARTH_[A-Z_]+=\S+ /g, '');
  t.equal(printed, tryIt.split('\n')[0], 'the same line, less the environment of this test server');
});

t.test('"Try it", Search and custom parameters run as written and answer what the text says', async (t) => {
  t.notMatch(`${tryIt}${search}${custom}`, /<[a-z_]+>/, 'no <placeholder> left to break bash');
  t.ok(fs.existsSync(path.join(root, 'examples/transaction.json')), 'the Bundle the example posts is shipped');
  const first = bash(tryIt);
  t.equal(first.status, 0, first.stderr);
  t.match(first.stdout, '"resourceType":"CapabilityStatement"', 'metadata');
  t.match(first.stdout, /"type":"history"[\s\S]*Chalmers/, 'the new patient\'s history');
  t.match(first.stdout, /"type":"transaction-response"/, 'the transaction');

  const token = `TOKEN=$(${tryIt.split('\n')[0]!.replace(/^TOKEN=\$\(|\)$/g, '')})\n`;
  const searched = bash(token + search);
  t.equal(searched.status, 0, searched.stderr);
  const bundles = searched.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  t.equal(bundles.length, 5, 'five searchsets');
  for (const b of bundles) t.ok(b.total >= 1, `each finds the example data: ${JSON.stringify(b.link?.[0]?.url)}`);

  const indexed = bash(token + custom);
  t.equal(indexed.status, 0, indexed.stderr);
  t.match(indexed.stdout, '"resourceType":"SearchParameter"');
  t.match(indexed.stdout, '"resourceType":"Parameters"', 'the job status');
  // The reindex job runs in the background: ask again (as the comment says) until it is done.
  let colour = '';
  for (let i = 0; i < 100 && !colour.includes('"id":"123"'); i++) {
    colour = bash(`${token}curl -s 'localhost:8080/fhir/default/Patient?colour=blue' -H "Authorization: Bearer $TOKEN"`).stdout;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.match(colour, '"id":"123"', 'Patient/123 by its favourite colour');
});

t.test('the booking walkthrough runs as written: slots generated, one found, held, booked, a second booking refused', async (t) => {
  const token = `TOKEN=$(${tryIt.split('\n')[0]!.replace(/^TOKEN=\$\(|\)$/g, '')})\n`;
  const run = bash(token + booking);
  // With the server's last output: a loaded CI run once got empty answers here, and its cause was not recorded.
  t.equal(run.status, 0, `${run.stderr}\n--- server output ---\n${banner.slice(-3000)}`);
  const created = /"name":"created","valueInteger":(\d+)/.exec(run.stdout)?.[1];
  t.ok(Number(created) >= 30, `four weeks of weekday mornings (${created})`);
  t.match(run.stdout, /"status":"booked"/, 'the held appointment is booked');
  t.match(run.stdout, /is already taken by Appointment\//, 'the second booking names the first');
});

t.test('the subscription example runs as written: handshake, then the matching Observation PUT to the receiver, and $status', async (t) => {
  const run = bash(subscriptions);
  t.equal(run.status, 0, `${run.stderr}\n--- server output ---\n${banner.slice(-3000)}`);
  t.match(run.stdout, /^POST \/hook/m, 'the handshake');
  t.match(run.stdout, /^PUT \/hook\/Observation\/[^ ]+ \{"resourceType":"Observation"/m, 'the notification with its resource');
  t.match(run.stdout, /"name":"events-since-subscription-start","valueString":"1"/, '$status counts the event');
});

t.test('the terminology example runs as written: a core expansion, subsumption and look-up in a CodeSystem it stores', async (t) => {
  const run = bash(terminology);
  t.equal(run.status, 0, run.stderr);
  const [expansion, subsumes, lookup] = run.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  t.same(expansion.expansion.contains.map((c: { code: string }) => c.code), ['male', 'female']);
  t.equal(expansion.expansion.total, 4);
  t.equal(subsumes.parameter[0].valueCode, 'subsumes');
  t.match(lookup.parameter, [{ name: 'name' }, { name: 'display', valueString: 'Alpha one' }, { name: 'property', part: [{ valueCode: 'parent' }, { valueCode: 'A' }] }]);
});

t.test('the profile example runs as written: a Patient without a name is refused by the profile it claims', async (t) => {
  const run = bash(profiles);
  t.equal(run.status, 22, `the test's curl runs with --fail-with-body, so the refusal (4xx) ends the script: ${run.stderr}`);
  const outcome = JSON.parse(run.stdout.trim());
  t.equal(outcome.resourceType, 'OperationOutcome');
  t.match(outcome.issue[0], { diagnostics: /Patient.name: minimum required = 1, but only found 0/, expression: ['Patient.name'] });
});

t.test('a fresh install encrypts: the key file is generated beside the data directory, and the key commands run as written', async (t) => {
  t.match(banner, `Generated the key-encryption key file ${dataDir}.key (mode 0600)`);
  t.equal(fs.statSync(`${dataDir}.key`).mode & 0o777, 0o600);
  const run = bash(encryption);
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /^encrypted true$/m, 'tenant keys: the default tenant is encrypted');
  t.match(run.stdout, /data key version 2 of tenant default; re-encryption job \S+ queued/);
});
