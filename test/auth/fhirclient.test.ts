/**
 * Real SMART clients: the `fhirclient` library's Node adapter runs in a small app server and does a standalone launch
 * and an EHR launch against a listening Hearth — discovery, PKCE, the login form, consent, the token exchange — then
 * reads FHIR data with the token it got. The test plays the user's browser between the two servers.
 */
import http from 'node:http';
import smart from 'fhirclient';
import t, { type Test } from 'tap';
import { freePort } from '../helpers/cli.js';
import { type Page, TestBrowser, fetchTransport, formsOf } from '../helpers/browser.js';
import { startServer } from '../helpers/server.js';

type Client = ReturnType<typeof smart.client>;

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const PASSWORD = 'correct horse battery';


const port = await freePort();
const origin = `http://127.0.0.1:${port}`;
const s = await startServer(t, { HEARTH_BASE_URL: origin });
await s.app.listen({ port, host: '127.0.0.1' });
const fhirBase = `${origin}/fhir/${s.slug}`;

async function admin(what: string, body: unknown) {
  const r = await s.request('POST', `/admin/tenants/${s.slug}/${what}`, { body, headers: ADMIN });
  if (r.statusCode >= 300) throw new Error(`admin ${what}: ${r.statusCode} ${r.body}`);
  return r.json();
}

// Seed through the API with a system token minted for this base (aud = the listening origin).
const seedToken = (await admin('tokens', { scope: 'system/*.cruds' })).access_token as string;
const seed = [
  { resourceType: 'Patient', id: 'p1', name: [{ given: ['Alice'], family: 'Smith' }] },
  { resourceType: 'Patient', id: 'p2', name: [{ given: ['Bob'], family: 'Jones' }] },
  { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'heart rate' }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'heart rate' }, subject: { reference: 'Patient/p2' } },
  { resourceType: 'Observation', id: 'o3', status: 'final', code: { text: 'weight' }, subject: { reference: 'Patient/p2' } },
];
for (const r of seed) {
  const res = await s.request('PUT', `${r.resourceType}/${r.id}`, { body: r, headers: { authorization: `Bearer ${seedToken}` } });
  if (res.statusCode !== 201) throw new Error(`seed ${r.resourceType}/${r.id}: ${res.statusCode} ${res.body}`);
}

// The SMART app: /launch starts authorization with fhirclient, /callback completes it (fhirclient's ready()).
const appPort = await freePort();
const appOrigin = `http://127.0.0.1:${appPort}`;
const { client_id: clientId } = await admin('clients', { name: 'fhirclient test app', type: 'public',
  redirect_uris: [`${appOrigin}/callback`], launch_uri: `${appOrigin}/launch`,
  scope: 'launch launch/patient openid fhirUser online_access offline_access patient/*.rs' });
await admin('users', { username: 'doc', password: PASSWORD, fhirUser: 'Practitioner/d1' });

const store = new Map<string, unknown>();
const storage = {
  get: async (key: string) => store.get(key),
  set: async (key: string, value: unknown) => { store.set(key, value); return value; },
  unset: async (key: string) => store.delete(key),
};
let ready: Promise<Client> | undefined;

const appServer = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', appOrigin);
  if (url.pathname === '/launch') {
    const ehr = url.searchParams.has('launch');
    smart(req, res, storage).authorize({ clientId, scope: `${ehr ? 'launch' : 'launch/patient'} patient/*.rs openid fhirUser online_access`,
      redirectUri: '/callback', ...(ehr ? {} : { iss: fhirBase }) })
      .catch((e: Error) => { res.writeHead(500); res.end(e.message); });
    return;
  }
  if (url.pathname === '/callback') {
    ready = smart(req, res, storage).ready();
    ready.then(() => { res.writeHead(200); res.end('ready'); }, (e: Error) => { res.writeHead(500); res.end(e.message); });
    return;
  }
  res.writeHead(404);
  res.end();
});
await new Promise<void>((resolve) => appServer.listen(appPort, '127.0.0.1', resolve));
t.teardown(() => new Promise((resolve) => appServer.close(resolve)));

/** The user's browser: app launch → Hearth pages → back to the app's callback. */
async function launch(t: Test, launchUrl: string, choose?: string): Promise<Client> {
  const b = new TestBrowser(fetchTransport(), origin);
  const start = await b.request('GET', launchUrl);
  t.equal(start.status, 302, 'the app redirects to the authorization endpoint');
  t.ok(start.location?.startsWith(`${origin}/auth/${s.slug}/authorize?`), `to ${start.location}`);
  const authorize = new URL(start.location!).searchParams;
  t.equal(authorize.get('code_challenge_method'), 'S256', 'fhirclient uses PKCE S256 (from discovery)');
  t.equal(authorize.get('aud'), fhirBase);
  let page: Page = await b.follow(start);
  page = await b.submit(page, 'login', [['username', 'doc'], ['password', PASSWORD]]);
  if (choose) page = await b.submit(page, 'patient', [['patient', choose]]);
  t.notOk(formsOf(page.body).some((f) => f.action.endsWith('/patient')), 'no patient picker left');
  const back = await b.submit(page, 'consent', [['decision', 'approve']]);
  t.equal(back.status, 303);
  t.ok(back.location?.startsWith(`${appOrigin}/callback?`), 'back at the app with the code');
  const callback = await fetch(back.location!);
  t.equal(callback.status, 200, `the app completed the token exchange: ${await callback.clone().text()}`);
  return ready!;
}

/** What a FHIR read through the client answers: the status of an HttpError, or 200. */
async function statusOf(client: Client, path: string): Promise<number> {
  try {
    await client.request(path);
    return 200;
  } catch (e) {
    return (e as { status?: number; statusCode?: number }).status ?? (e as { statusCode?: number }).statusCode ?? -1;
  }
}

const ids = (bundle: { entry?: { resource: { id: string } }[] }) => (bundle.entry ?? []).map((e) => e.resource.id).sort();

t.test('standalone launch with fhirclient: picker, consent, PKCE; only the chosen patient\'s data', async (t) => {
  const client = await launch(t, `${appOrigin}/launch`, 'p1');
  const tr = client.state.tokenResponse!;
  t.equal(tr.patient, 'p1', 'token response patient');
  t.equal(tr.need_patient_banner, true, 'standalone → need_patient_banner');
  t.match(tr.scope, /\bpatient\/\*\.rs\b/);
  t.ok(tr.refresh_token, 'online_access → refresh token');
  t.equal(client.patient.id, 'p1');
  t.match(String(client.getFhirUser()), /Practitioner\/d1$/, 'id_token fhirUser');
  t.same(ids(await client.request('Observation')), ['o1'], 'search returns only the launch patient\'s Observations');
  t.same(ids(await client.request(`Observation?subject=Patient/p2`)), [], 'even when asking for another patient');
  t.equal((await client.request('Observation/o1')).id, 'o1');
  t.equal((await client.patient.read()).id, 'p1');
  t.equal(await statusOf(client, 'Observation/o2'), 404, 'another patient\'s Observation → 404');
  t.equal(await statusOf(client, 'Patient/p2'), 404, 'another Patient → 404');
});

t.test('EHR launch with fhirclient: launch id from the admin API, context from the launch', async (t) => {
  const { launch: launchId, iss } = await admin('launches', { patient: 'p2' });
  t.equal(iss, fhirBase, 'the launch names this server as iss');
  const client = await launch(t, `${appOrigin}/launch?iss=${encodeURIComponent(iss)}&launch=${encodeURIComponent(launchId)}`);
  const tr = client.state.tokenResponse!;
  t.equal(tr.patient, 'p2');
  t.equal(tr.need_patient_banner, false, 'EHR launch → no banner');
  t.match(tr.scope, /\blaunch\b/, 'fhirclient added the launch scope');
  t.same(ids(await client.request('Observation')), ['o2', 'o3']);
  t.equal(await statusOf(client, 'Observation/o1'), 404, 'p1\'s Observation → 404');
  t.equal(await statusOf(client, 'Patient/p1'), 404);
  const reuse = await fetch(`${appOrigin}/launch?iss=${encodeURIComponent(iss)}&launch=${encodeURIComponent(launchId)}`, { redirect: 'manual' });
  const again = await fetch(reuse.headers.get('location')!, { redirect: 'manual' });
  t.equal(new URL(again.headers.get('location')!).searchParams.get('error'), 'invalid_request', 'the launch id is single use');
});
