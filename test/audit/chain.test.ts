/**
 * Append-only and tamper-evident audit storage (issue #6 §4–§5): the database refuses UPDATE, DELETE and TRUNCATE;
 * seals chain the events; $verify-chain re-computes the chain and names the first event or seal edited behind the
 * server's back, as a superuser would (triggers off).
 */
import t from 'tap';
import { sealTenant } from '../../src/audit/schedule.js';
import { ident, sql } from '../../src/db/sql.js';
import { findTenant, schemaFor } from '../../src/storage/tenants.js';
import { startServer, usingPostgres } from '../helpers/server.js';
import { sealEverything } from '../helpers/audit.js';
import { auditEvent, dcm } from '../../src/audit/event.js';
import { verifyChain } from '../../src/audit/verify.js';

const SECRET = 'seal-secret-for-tests-0123456789';
const s = await startServer(t, { HEARTH_AUDIT_SEAL_SECRET: SECRET });
const schema = schemaFor(s.slug);
const tenant = (await findTenant(s.deps.db, s.slug))!;
// This tenant's events are stored in clear, so that the tests below can edit their JSON as a superuser would; an
// encrypted event changed behind the server's back is the last test's.
await s.deps.db.keyring.destroyKeys(s.deps.db, schema);
const auditor = { headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** full: re-compute every event, not only those sealed since the last verification (edits of verified ones need it). */
async function verify(full = false): Promise<Record<string, Json>> {
  const res = await s.request('GET', `AuditEvent/$verify-chain${full ? '?full=true' : ''}`, auditor);
  if (res.statusCode !== 200) throw new Error(res.body);
  return Object.fromEntries(res.json().parameter.map((p: Json) => [p.name, p.valueBoolean ?? p.valueInteger ?? p.valueString ?? p.valueReference]));
}

/** As a superuser behind the server's back: replication role skips the append-only triggers. */
async function tamper(statement: ReturnType<typeof sql>) {
  await s.deps.db.transaction(async (tx) => {
    await tx.query(sql`SET LOCAL session_replication_role = replica`);
    await tx.query(statement);
  });
}

for (let i = 0; i < 5; i++) {
  await s.request('PUT', `Patient/c${i}`, { body: { resourceType: 'Patient', id: `c${i}` } });
  await s.request('GET', `Patient/c${i}`);
}

t.test('the database refuses UPDATE, DELETE and TRUNCATE of audit rows and seals', async (t) => {
  await sealEverything(s.deps.db, tenant, SECRET);
  for (const statement of [
    sql`UPDATE ${ident(schema)}.audit_event SET outcome = '0'`,
    sql`DELETE FROM ${ident(schema)}.audit_event`,
    sql`TRUNCATE ${ident(schema)}.audit_event`,
    sql`UPDATE ${ident(schema)}.audit_seal SET hash = 'x'`,
    sql`DELETE FROM ${ident(schema)}.audit_seal`,
  ]) {
    await t.rejects(s.deps.db.query(statement), { message: /append-only/ });
  }
});

t.test('the owner of the audit tables holds no UPDATE, DELETE or TRUNCATE privilege on them, partitions included', async (t) => {
  // From the ACLs themselves: a superuser owner (as in these tests) passes every privilege check regardless.
  const tables = await s.deps.db.query<{ name: string; owner: string[] | string }>(sql`
    SELECT c.relname AS name, coalesce((SELECT array_agg(a.privilege_type::text ORDER BY a.privilege_type)
      FROM aclexplode(c.relacl) a WHERE a.grantee = c.relowner), '{ALL}') AS owner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'p') AND (c.relname LIKE 'audit\_event%' OR c.relname = 'audit_seal')`);
  t.ok(tables.length >= 4, 'audit_event, its default and monthly partitions, audit_seal');
  for (const r of tables) {
    const owner = Array.isArray(r.owner) ? r.owner : r.owner.replace(/[{}]/g, '').split(',');
    t.same(owner.filter((p) => ['UPDATE', 'DELETE', 'TRUNCATE', 'ALL'].includes(p)), [], `${r.name}: the owner may not change rows`);
    t.ok(owner.includes('INSERT') && owner.includes('SELECT'), `${r.name}: the owner may insert and read`);
  }

  // An owner that is not a superuser is refused by the privilege check even with the trigger disabled (which an owner
  // may do): the refusal is the database's, not the trigger's. Rolled back: the role exists only inside the test.
  const role = `hearth_audit_owner_${process.pid}`;
  const err = await s.deps.db.transaction(async (tx) => {
    await tx.query(sql`CREATE ROLE ${ident(role)} NOLOGIN`);
    await tx.query(sql`GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(role)}`);
    await tx.query(sql`ALTER TABLE ${ident(schema)}.audit_event OWNER TO ${ident(role)}`);
    await tx.query(sql`SET LOCAL ROLE ${ident(role)}`);
    await tx.query(sql`ALTER TABLE ${ident(schema)}.audit_event DISABLE TRIGGER audit_event_append_only`);
    const refused = await tx.query(sql`UPDATE ${ident(schema)}.audit_event SET outcome = '0'`).then(() => undefined, (e: unknown) => e);
    throw Object.assign(new Error('rollback'), { refused });
  }, { retries: 0 }).catch((e: { refused?: { message?: string; code?: string } }) => e.refused);
  t.match(err, { code: '42501', message: /permission denied/ });
});

t.test('seals cover every event once; verification passes; $verify-chain needs an auditor scope', async (t) => {
  await sealEverything(s.deps.db, tenant, SECRET);
  let r = await verify();
  t.equal(r.verified, true, r.message);
  t.equal(r.signed, true);
  t.equal(r.unsealed, 0, 'nothing happened since the seal');
  const [{ n }] = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.audit_event`) as [{ n: number }];
  t.equal(r.events + 1, n, 'every event was sealed but the $verify-chain request, recorded once it had answered');
  r = await verify();
  t.equal(r.unsealed, 1, 'the first $verify-chain request waits for the next seal');
  await sealEverything(s.deps.db, tenant, SECRET);
  r = await verify();
  t.equal(r.verified, true);
  t.equal(r.unsealed, 0);
  t.equal(r.events, n + 1);
  t.ok(r.seals >= 2, 'a chain of seals');
  t.equal((await s.request('GET', 'AuditEvent/$verify-chain')).statusCode, 403, 'system/*.cruds is not an auditor');
  const patientAuditor = await s.token('patient/AuditEvent.rs', { context: { patient: 'c1' } });
  t.equal((await s.request('GET', 'AuditEvent/$verify-chain', { headers: { authorization: `Bearer ${patientAuditor}` } })).statusCode, 403);
});

t.test('an event edited by a superuser is named by $verify-chain', async (t) => {
  await sealEverything(s.deps.db, tenant, SECRET);
  const [victim] = await s.deps.db.query<{ seq: number; id: string; text: string }>(sql`SELECT seq, id::text AS id,
    content::text AS text FROM ${ident(schema)}.audit_event WHERE action = 'R' ORDER BY seq LIMIT 1 OFFSET 2`);
  await tamper(sql`UPDATE ${ident(schema)}.audit_event SET content = jsonb_set(content::jsonb, '{outcome}', '"4"')::json WHERE seq = ${victim!.seq}`);
  const r = await verify(true);
  t.equal(r.verified, false);
  t.equal(r.firstBrokenEvent, Number(victim!.seq));
  t.same(r.firstBrokenEventReference, { reference: `AuditEvent/${victim!.id}` });
  t.match(r.message, /altered/);
  // the digest column is not evidence: rewriting it with the row leaves the seal to disagree
  await tamper(sql`UPDATE ${ident(schema)}.audit_event SET digest = sha256(convert_to(content::text, 'UTF8')) WHERE seq = ${victim!.seq}`);
  t.equal((await verify(true)).firstBrokenEvent, Number(victim!.seq), 'a re-computed digest column does not hide the change');
  // the stored text itself is what was sealed: the same values re-serialised differ from it
  await tamper(sql`UPDATE ${ident(schema)}.audit_event SET content = jsonb_set(content::jsonb, '{outcome}', '"0"')::json WHERE seq = ${victim!.seq}`);
  t.equal((await verify(true)).firstBrokenEvent, Number(victim!.seq), 're-serialised JSON is not the sealed text');
  await tamper(sql`UPDATE ${ident(schema)}.audit_event SET content = ${victim!.text}::json WHERE seq = ${victim!.seq}`);
  t.equal((await verify(true)).verified, true, 'restored');
  // a search column changed alone (to hide an event from auditors) is caught as well
  await tamper(sql`UPDATE ${ident(schema)}.audit_event SET patient = '{}' WHERE seq = ${victim!.seq}`);
  t.equal((await verify(true)).firstBrokenEvent, Number(victim!.seq));
});

t.test('a deleted event and a forged seal are found', async (t) => {
  const s2 = await startServer(t, { HEARTH_AUDIT_SEAL_SECRET: SECRET });
  const schema2 = schemaFor(s2.slug);
  const tenant2 = (await findTenant(s2.deps.db, s2.slug))!;
  const auditor2 = { headers: { authorization: `Bearer ${await s2.token('system/AuditEvent.rs')}` } };
  for (let i = 0; i < 4; i++) await s2.request('GET', `Patient/x${i}`);
  await sealEverything(s2.deps.db, tenant2, SECRET);
  const check = async () => Object.fromEntries((await s2.request('GET', 'AuditEvent/$verify-chain?full=true', auditor2)).json()
    .parameter.map((p: Json) => [p.name, p.valueBoolean ?? p.valueInteger ?? p.valueString]));
  t.equal((await check()).verified, true);
  const [victim] = await s2.deps.db.query<{ seq: number }>(sql`SELECT seq FROM ${ident(schema2)}.audit_event ORDER BY seq LIMIT 1 OFFSET 1`);
  await s2.deps.db.transaction(async (tx) => {
    await tx.query(sql`SET LOCAL session_replication_role = replica`);
    await tx.query(sql`DELETE FROM ${ident(schema2)}.audit_event WHERE seq = ${victim!.seq}`);
  });
  let r = await check();
  t.equal(r.verified, false);
  t.equal(r.firstBrokenEvent, Number(victim!.seq));
  t.match(r.message, /missing/);

  // Rewriting the seal to match the edited rows still fails: its HMAC needs the secret outside the database.
  await s2.deps.db.transaction(async (tx) => {
    await tx.query(sql`SET LOCAL session_replication_role = replica`);
    await tx.query(sql`UPDATE ${ident(schema2)}.audit_seal SET hash = repeat('a', 64) WHERE seal_no = 1`);
  });
  r = await check();
  t.equal(r.verified, false);
  t.equal(r.brokenSeal, 1);
  t.match(r.message, /HMAC/);
});

t.test('sealing twice with nothing new writes no empty seal', async (t) => {
  const s3 = await startServer(t);
  const tenant3 = (await findTenant(s3.deps.db, s3.slug))!;
  await s3.request('GET', 'Patient/none');
  await sealEverything(s3.deps.db, tenant3);
  const [{ n }] = await s3.deps.db.query<{ n: number }>(sql`SELECT sum(events)::int AS n FROM ${ident(schemaFor(s3.slug))}.audit_seal`) as [{ n: number }];
  t.equal(n, 1);
  t.equal(await sealTenant(s3.deps.db, tenant3, undefined), undefined);
});

t.test('an event whose transaction commits after a seal is sealed by the next one, not lost in a gap', async (t) => {
  const s4 = await startServer(t);
  const schema4 = schemaFor(s4.slug);
  const tenant4 = (await findTenant(s4.deps.db, s4.slug))!;
  const event = auditEvent({ type: dcm('110100', 'Application Activity'), subtype: [], action: 'E', pattern: 'Query',
    actor: {}, request: { requestId: 'late', address: '127.0.0.1', method: 'GET', url: s4.url }, base: s4.url,
    outcome: { status: 200 }, entities: [], recorded: new Date() });
  await s4.request('GET', 'Patient/early');
  await sealEverything(s4.deps.db, tenant4);
  if (usingPostgres()) {
    // The event's transaction is still open while a seal is made on another connection.
    await s4.deps.db.transaction(async (tx) => {
      await s4.deps.audit.insert(tx, schema4, [event]);
      await tx.query(sql`SELECT 1`); // a read sends the deferred insert (db/deferred.ts); the transaction stays open
      await s4.request('GET', 'Patient/meanwhile'); // commits after the open transaction began
      const sealed = await sealTenant(s4.deps.db, tenant4, undefined);
      t.equal(sealed, undefined, 'nothing at or after the oldest open transaction is sealed');
    });
  } else {
    // PGlite is one session: a transaction blocks every other statement, so no seal can run while it is open.
    await s4.deps.db.transaction((tx) => s4.deps.audit.insert(tx, schema4, [event]));
  }
  await sealEverything(s4.deps.db, tenant4);
  const [{ n }] = await s4.deps.db.query<{ n: number }>(sql`SELECT sum(events)::int AS n FROM ${ident(schema4)}.audit_seal`) as [{ n: number }];
  t.equal(n, usingPostgres() ? 3 : 2, 'the late event is in a later seal');
  const check = Object.fromEntries((await s4.request('GET', 'AuditEvent/$verify-chain', { headers: {
    authorization: `Bearer ${await s4.token('system/AuditEvent.rs')}` } })).json().parameter.map((p: Json) => [p.name, p.valueBoolean ?? p.valueInteger]));
  t.equal(check.verified, true);
  t.equal(check.events, usingPostgres() ? 3 : 2);
});

t.test('rows written before digests were stored (migration 007) are sealed and verified from the row itself', async (t) => {
  const s5 = await startServer(t);
  const schema5 = schemaFor(s5.slug);
  const tenant5 = (await findTenant(s5.deps.db, s5.slug))!;
  const auditor5 = { headers: { authorization: `Bearer ${await s5.token('system/AuditEvent.rs')}` } };
  await s5.request('GET', 'Patient/before');
  await s5.request('GET', 'Patient/after');
  const [older] = await s5.deps.db.query<{ seq: number }>(sql`SELECT seq FROM ${ident(schema5)}.audit_event ORDER BY seq LIMIT 1`);
  // what a row from before the migration looks like: no digest of its own
  await s5.deps.db.transaction(async (tx) => {
    await tx.query(sql`SET LOCAL session_replication_role = replica`);
    await tx.query(sql`UPDATE ${ident(schema5)}.audit_event SET digest = NULL WHERE seq = ${older!.seq}`);
  });
  await sealEverything(s5.deps.db, tenant5);
  const check = async () => Object.fromEntries((await s5.request('GET', 'AuditEvent/$verify-chain?full=true', auditor5)).json()
    .parameter.map((p: Json) => [p.name, p.valueBoolean ?? p.valueInteger ?? p.valueString]));
  t.equal((await check()).verified, true, 'sealed with the digest computed from the row');
  await s5.deps.db.transaction(async (tx) => {
    await tx.query(sql`SET LOCAL session_replication_role = replica`);
    await tx.query(sql`UPDATE ${ident(schema5)}.audit_event SET outcome = '8' WHERE seq = ${older!.seq}`);
  });
  const r = await check();
  t.equal(r.verified, false);
  t.equal(r.firstBrokenEvent, Number(older!.seq));
});

t.test('$verify-chain re-computes only the events sealed since the last verification (took 15 s on a small tenant)', async (t) => {
  const s6 = await startServer(t, { HEARTH_AUDIT_SEAL_SECRET: SECRET });
  const schema6 = schemaFor(s6.slug);
  const tenant6 = (await findTenant(s6.deps.db, s6.slug))!;
  const auditor6 = { headers: { authorization: `Bearer ${await s6.token('system/AuditEvent.rs')}` } };
  const check = async (query = '') => Object.fromEntries((await s6.request('GET', `AuditEvent/$verify-chain${query}`, auditor6)).json()
    .parameter.map((p: Json) => [p.name, p.valueBoolean ?? p.valueInteger ?? p.valueString]));
  for (let i = 0; i < 3; i++) await s6.request('GET', `Patient/v${i}`);
  await sealEverything(s6.deps.db, tenant6, SECRET);
  let r = await check();
  t.equal(r.verified, true, r.message);
  t.equal(r.resumedAfterSeal, 0, 'the first run verifies the whole chain');
  t.equal(r.recomputed, r.events);
  const first = r.events;
  await sealEverything(s6.deps.db, tenant6, SECRET);
  const [{ last }] = await s6.deps.db.query<{ last: number }>(sql`SELECT max(seal_no)::int AS last FROM ${ident(schema6)}.audit_seal`) as [{ last: number }];
  r = await check();
  t.equal(r.verified, true);
  t.ok(r.resumedAfterSeal > 0 && r.resumedAfterSeal < last, 'the second run resumes after the seals the first one verified');
  t.equal(r.recomputed, 1, 'only the event sealed since (the first $verify-chain request) is re-computed');
  t.equal(r.events, first + 1, 'events verified in all');

  // A checkpoint moved forward behind the server's back does not match its HMAC and is ignored.
  await s6.deps.db.query(sql`UPDATE ${ident(schema6)}.audit_verification SET through_seal = through_seal + 1000`);
  r = await check();
  t.equal(r.resumedAfterSeal, 0, 'a forged checkpoint is not trusted');
  t.equal(r.verified, true);

  // An edit of an event verified earlier needs full=true to be found: the default run checks seals, not old events.
  const [victim] = await s6.deps.db.query<{ seq: number }>(sql`SELECT seq FROM ${ident(schema6)}.audit_event ORDER BY seq LIMIT 1`);
  await s6.deps.db.transaction(async (tx) => {
    await tx.query(sql`SET LOCAL session_replication_role = replica`);
    await tx.query(sql`UPDATE ${ident(schema6)}.audit_event SET outcome = '8' WHERE seq = ${victim!.seq}`);
  });
  t.equal((await check()).verified, true, 'incremental: the edited event was verified before');
  r = await check('?full=true');
  t.equal(r.verified, false, 'full=true finds it');
  t.equal(r.firstBrokenEvent, Number(victim!.seq));
  t.equal((await check()).verified, false, 'and the checkpoint goes back before the broken seal');
  t.equal((await s6.request('GET', 'AuditEvent/$verify-chain?full=maybe', auditor6)).statusCode, 400);
});

t.test('$verify-chain stops at its time limit with complete=false and the next run continues (was unbounded)', async (t) => {
  const s7 = await startServer(t);
  const schema7 = schemaFor(s7.slug);
  const tenant7 = (await findTenant(s7.deps.db, s7.slug))!;
  for (let i = 0; i < 3; i++) {
    await s7.request('GET', `Patient/w${i}`);
    await sealEverything(s7.deps.db, tenant7);
  }
  const [{ seals }] = await s7.deps.db.query<{ seals: number }>(sql`SELECT count(*)::int AS seals FROM ${ident(schema7)}.audit_seal`) as [{ seals: number }];
  t.ok(seals >= 3);
  const runs = [];
  for (let i = 0; i < seals + 1; i++) {
    const r = await verifyChain(s7.deps.db, schema7, undefined, { deadlineMs: 1 });
    runs.push(r);
    t.equal(r.verified, true, r.message);
    if (r.complete) break;
    t.match(r.message, /time limit/);
  }
  t.equal(runs[0]!.complete, false, 'the first run stopped at its limit');
  t.equal(runs.at(-1)!.complete, true, 'successive runs finish the chain');
  t.ok(runs.length > 1 && runs.length <= seals, 'each run re-computes at least one seal');
});

t.test('an encrypted event changed behind the server\'s back is named by $verify-chain', async (t) => {
  const slug = await s.newTenant();
  const schema3 = schemaFor(slug);
  const tenant3 = (await findTenant(s.deps.db, slug))!;
  const auditor3 = { headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs', { slug })}` } };
  for (let i = 0; i < 3; i++) await s.request('GET', `/fhir/${slug}/Patient/e${i}`);
  await sealEverything(s.deps.db, tenant3, SECRET);
  const check = async () => Object.fromEntries((await s.request('GET', `/fhir/${slug}/AuditEvent/$verify-chain?full=true`, auditor3))
    .json().parameter.map((p: Json) => [p.name, p.valueBoolean ?? p.valueInteger ?? p.valueString]));
  t.equal((await check()).verified, true);
  const [victim] = await s.deps.db.query<{ seq: number; sealed: Buffer; content: unknown }>(sql`SELECT seq, sealed, content
    FROM ${ident(schema3)}.audit_event WHERE action = 'R' ORDER BY seq LIMIT 1`);
  t.ok(victim!.sealed && victim!.content === null, 'stored encrypted');
  await tamper(sql`UPDATE ${ident(schema3)}.audit_event SET sealed = overlay(sealed placing '\\x00'::bytea from length(sealed) for 1)
    WHERE seq = ${victim!.seq}`);
  const broken = await check();
  t.equal(broken.verified, false);
  t.equal(broken.firstBrokenEvent, Number(victim!.seq));
  t.match(broken.message, /altered/);
  await tamper(sql`UPDATE ${ident(schema3)}.audit_event SET sealed = ${victim!.sealed} WHERE seq = ${victim!.seq}`);
  t.equal((await check()).verified, true, 'restored');
});
