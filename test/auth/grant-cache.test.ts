/**
 * The tenant and grant rows behind FHIR requests are cached (issue #14 §2) and revocation still takes effect at once:
 * by the NOTIFY of the grant and tenant triggers (another node's revocation: plain SQL on its own connection here), by
 * the local signal of this node's own revocations, and by not serving from the cache while notifications may be lost.
 */
import t from 'tap';
import { openDb } from '../../src/db/open.js';
import { ident, sql } from '../../src/db/sql.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { GrantCache } from '../../src/auth/grant-cache.js';
import { revokeGrant } from '../../src/auth/grants.js';
import { claimsOf } from '../helpers/smart.js';
import { startServer, usingPostgres } from '../helpers/server.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Requests with the token until its grant is cached (the first ones may complete before LISTEN is up). */
async function cachedAfterRequests(request: () => Promise<unknown>, cache: GrantCache): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const before = cache.size;
    await request();
    if (cache.size > before) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

t.test('grant cache', async (t) => {
  const s = await startServer(t);
  const cache = s.deps.auth.grants!;
  t.ok(cache, 'the server caches grants by default');
  const schema = schemaFor(s.slug);
  // "Another node": its own connection to the same database (PGlite: the same in-process database).
  const other = usingPostgres() ? await openDb({ databaseUrl: process.env.DATABASE_URL, poolSize: 1 }) : s.deps.db;
  t.teardown(async () => { if (other !== s.deps.db) await other.close(); });

  t.test('a second request with the same token is served from the cache', async (t) => {
    const token = await s.token('system/*.rs');
    const get = () => s.request('GET', 'Patient', { headers: bearer(token) });
    t.equal((await get()).statusCode, 200);
    t.ok(await cachedAfterRequests(get, cache), 'the grant is cached');
    // Proof that a hit reads no row: a revocation with the notifying trigger disabled goes unseen until forgotten.
    const grant = claimsOf(token).grant as string;
    await other.transaction(async (tx) => {
      await tx.query(sql`ALTER TABLE ${ident(schema)}.auth_grant DISABLE TRIGGER auth_grant_notify`);
      await tx.query(sql`UPDATE ${ident(schema)}.auth_grant SET revoked_at = now() WHERE id = ${grant}::uuid`);
      await tx.query(sql`ALTER TABLE ${ident(schema)}.auth_grant ENABLE TRIGGER auth_grant_notify`);
    });
    t.equal((await get()).statusCode, 200, 'served from the cache');
    cache.forget(schema);
    t.equal((await get()).statusCode, 401, 'read again once forgotten');
  });

  t.test('a grant revoked by another node is refused at once (NOTIFY)', async (t) => {
    const token = await s.token('system/*.rs');
    t.ok(await cachedAfterRequests(() => s.request('GET', 'Patient', { headers: bearer(token) }), cache));
    const grant = claimsOf(token).grant as string;
    await other.query(sql`UPDATE ${ident(schema)}.auth_grant SET revoked_at = now() WHERE id = ${grant}::uuid`);
    t.ok(await until(() => cache.size === 0), 'the notification empties the tenant\'s entries');
    const res = await s.request('GET', 'Patient', { headers: bearer(token) });
    t.equal(res.statusCode, 401);
    t.match(res.headers['www-authenticate'], /invalid_token/);
  });

  t.test('a grant revoked through this node is refused on the very next request', async (t) => {
    const token = await s.token('system/*.rs');
    t.ok(await cachedAfterRequests(() => s.request('GET', 'Patient', { headers: bearer(token) }), cache));
    await revokeGrant(s.deps.db, schema, claimsOf(token).grant as string, new Date());
    t.equal((await s.request('GET', 'Patient', { headers: bearer(token) })).statusCode, 401);
  });

  t.test('a deleted tenant answers 404, not a cached grant into a dropped schema', async (t) => {
    const slug = await s.newTenant();
    const token = await s.token('system/*.rs', { slug });
    t.ok(await cachedAfterRequests(() => s.request('GET', `/fhir/${slug}/Patient`, { headers: bearer(token) }), cache));
    const before = cache.size;
    await other.transaction(async (tx) => {
      await tx.query(sql`DELETE FROM hearth.tenant WHERE slug = ${slug}`);
      await tx.query(sql`DROP SCHEMA ${ident(schemaFor(slug))} CASCADE`);
    });
    t.ok(await until(() => cache.size < before), 'the tenant\'s entries are dropped');
    const res = await s.request('GET', `/fhir/${slug}/Patient`, { headers: bearer(token) });
    t.equal(res.statusCode, 404);
    t.equal(res.json().resourceType, 'OperationOutcome');
  });

  t.test('a lookup that overlapped a revocation is not stored', async (t) => {
    const lone = new GrantCache(s.deps.db, 60_000);
    t.teardown(() => lone.close());
    const token = await s.token('system/*.rs');
    const grant = claimsOf(token).grant as string;
    t.ok(await cachedAfterRequests(() => lone.lookup(s.slug, grant), lone), 'listening, then cached');
    lone.forget(schema);
    const pending = lone.lookup(s.slug, grant);
    lone.forget(schema); // a notification arrives while the row is being read
    t.equal((await pending)?.grantActive, true);
    t.equal(lone.size, 0, 'the read that raced the notification is not kept');
  });

  t.test('with caching off every request reads the rows', async (t) => {
    const off = new GrantCache(s.deps.db, 0);
    t.teardown(() => off.close());
    const token = await s.token('system/*.rs');
    t.equal((await off.lookup(s.slug, claimsOf(token).grant as string))?.grantActive, true);
    t.equal(off.size, 0);
  });
});

// PostgreSQL only: PGlite's notifications are in-process and cannot be lost.
if (usingPostgres()) t.test('while the LISTEN connection is lost nothing is served from the cache', async (t) => {
  const s = await startServer(t);
  const cache = s.deps.auth.grants!;
  const token = await s.token('system/*.rs');
  t.ok(await cachedAfterRequests(() => s.request('GET', 'Patient', { headers: bearer(token) }), cache));
  await s.deps.db.query(sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE application_name = 'hearth-listen' AND pid <> pg_backend_pid()`);
  t.ok(await until(() => cache.size === 0), 'the cache is emptied when the connection drops');
  t.equal((await s.request('GET', 'Patient', { headers: bearer(token) })).statusCode, 200, 'requests still served (from the rows)');
  // Reconnected after about a second: entries are kept again.
  const again = async () => { await s.request('GET', 'Patient', { headers: bearer(token) }); return cache.size > 0; };
  let cached = false;
  for (let i = 0; i < 50 && !cached; i++) { cached = await again(); if (!cached) await new Promise((r) => setTimeout(r, 100)); }
  t.ok(cached, 'caching resumes once listening again');
});
