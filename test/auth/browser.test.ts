/**
 * End to end in a real browser: headless Chromium (Debian's package, driven by playwright-core) signs in on the login
 * page, approves the consent page, lands on the app's redirect_uri with a code and the exact state, and the code is
 * exchanged at the token endpoint. The consent page is saved as test/output/consent.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import t from 'tap';
import { freePort } from '../helpers/cli.js';
import { pkce } from '../helpers/browser.js';
import { startServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../output/consent.png');
const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const PASSWORD = 'correct horse battery';


t.test('headless Chromium: login, consent, redirect with code and state, token exchange', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does this)`);
    return;
  }
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const s = await startServer(t, { HEARTH_BASE_URL: origin });
  await s.app.listen({ port, host: '127.0.0.1' });
  const admin = async (what: string, body: unknown) => {
    const r = await s.request('POST', `/admin/tenants/${s.slug}/${what}`, { body, headers: ADMIN });
    if (r.statusCode >= 300) throw new Error(`admin ${what}: ${r.statusCode} ${r.body}`);
    return r.json();
  };

  // The app: its redirect_uri answers with a plain page; the test reads the code from the browser's URL.
  const app = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>App</title><p id="app">Back in the app</p>');
  });
  const appPort = await freePort();
  await new Promise<void>((resolve) => app.listen(appPort, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => app.close(resolve)));
  const redirectUri = `http://127.0.0.1:${appPort}/callback`;

  const { client_id: clientId } = await admin('clients', { name: 'Browser test app', type: 'public', redirect_uris: [redirectUri],
    scope: 'launch/patient patient/*.rs openid fhirUser' });
  await admin('users', { username: 'alice', password: PASSWORD, fhirUser: 'Patient/p1' });

  const verifier = pkce();
  const state = 'browser state ü & = /?';
  const authorize = `${origin}/auth/${s.slug}/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId,
    redirect_uri: redirectUri, scope: 'launch/patient patient/Observation.rs patient/Patient.rs openid fhirUser', state,
    aud: `${origin}/fhir/${s.slug}`, code_challenge: verifier.challenge, code_challenge_method: 'S256' })}`;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const violations: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });

  await page.goto(authorize);
  t.match(page.url(), new RegExp(`^${origin}/auth/${s.slug}/flow/`), 'the authorize request continues on the sign-in page');
  t.equal(await page.title(), 'Sign in · Hearth');
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await page.getByRole('button', { name: 'Approve' }).waitFor();
  t.equal(await page.title(), 'Allow access? · Hearth');
  const labels = await page.locator('fieldset label').allInnerTexts();
  t.ok(labels.some((l) => l.includes('Read and search Observation records of the selected patient')), 'scopes in plain words');
  t.equal(await page.locator('input[name=scope]:checked').count(), 4, 'every scope ticked to begin with');
  const stylesheetApplied = await page.evaluate(() => getComputedStyle(document.querySelector('main')!).maxWidth);
  t.equal(stylesheetApplied, '544px', 'the stylesheet loads under the CSP');
  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  t.ok(existsSync(SCREENSHOT), `screenshot saved to ${SCREENSHOT}`);

  await page.getByRole('checkbox', { name: /Patient records/ }).uncheck();
  await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), page.getByRole('button', { name: 'Approve' }).click()]);
  await page.locator('#app').waitFor();
  const landed = new URL(page.url());
  t.equal(landed.searchParams.get('state'), state, 'the exact state');
  const code = landed.searchParams.get('code');
  t.match(code, /^[A-Za-z0-9_-]{43}$/, 'a code');
  t.same(violations, [], 'no Content-Security-Policy violations (form-action allows the redirect to the app)');

  const res = await fetch(`${origin}/auth/${s.slug}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, client_id: clientId,
      code_verifier: verifier.verifier }) });
  const token = await res.json() as Record<string, unknown>;
  t.equal(res.status, 200, JSON.stringify(token));
  t.equal(token.patient, 'p1', 'the patient user\'s own record is the context');
  t.same(String(token.scope).split(' ').sort(), ['fhirUser', 'launch/patient', 'openid', 'patient/Observation.rs'],
    'the unticked scope is not granted');
  t.type(token.access_token, 'string');
});
