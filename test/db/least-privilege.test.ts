/**
 * The server as a role without superuser rights (issue 12, "Proof"; migration 008): FHIR works end to end, and the
 * audit tables' missing privileges refuse a change even with the append-only trigger disabled by their owner. CI runs
 * this file against PostgreSQL as the non-superuser `hearth_app` (HEARTH_TEST_NON_SUPERUSER=1, see .ci/run); run as a
 * superuser (the ordinary suites, PGlite), it shows the bypass that README "Audit trail" documents instead.
 */
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const schema = schemaFor(s.slug);
const [role] = await s.deps.db.query<{ name: string; superuser: boolean }>(sql`
  SELECT current_user AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`);

t.test('the role the tests connect as is the one CI asked for', async (t) => {
  t.ok(role, `connected as ${role?.name}`);
  if (process.env.HEARTH_TEST_NON_SUPERUSER === '1') t.equal(role!.superuser, false, `${role!.name} is not a superuser`);
});

t.test('create, read, search, history and the audit trail work without superuser rights', async (t) => {
  const created = await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Least' }] } });
  t.equal(created.statusCode, 201);
  const id = created.json().id as string;
  t.equal((await s.request('GET', `Patient/${id}`)).statusCode, 200);
  t.equal((await s.request('GET', 'Patient?name=least')).json().total, 1);
  t.equal((await s.request('GET', `Patient/${id}/_history`)).statusCode, 200);
  const audit = await s.request('GET', `AuditEvent?entity=Patient/${id}&_count=100`,
    { headers: { authorization: `Bearer ${await s.token('system/AuditEvent.rs')}` } });
  t.equal(audit.statusCode, 200);
  t.ok((audit.json().entry ?? []).length >= 3, 'the create, read and history were audited');
});

/** The statement's error inside a transaction that disables the trigger first (as the tables' owner may), rolled back. */
async function withoutTrigger(statement: ReturnType<typeof sql>): Promise<{ code?: string; message?: string } | undefined> {
  return s.deps.db.transaction(async (tx) => {
    await tx.query(sql`ALTER TABLE ${ident(schema)}.audit_event DISABLE TRIGGER audit_event_append_only`);
    const outcome = await tx.query(statement).then(() => undefined, (e: { code?: string; message?: string }) => e);
    throw Object.assign(new Error('rollback'), { outcome });
  }, { retries: 0 }).catch((e: { outcome?: { code?: string; message?: string } }) => e.outcome);
}

t.test('audit rows cannot be changed by the server\'s role, trigger or not', async (t) => {
  for (const statement of [sql`UPDATE ${ident(schema)}.audit_event SET outcome = '0'`, sql`DELETE FROM ${ident(schema)}.audit_event`]) {
    const err = await withoutTrigger(statement);
    if (role!.superuser) t.equal(err, undefined, 'a superuser bypasses privileges (documented): only seals show the change');
    else t.match(err, { code: '42501', message: /permission denied/ }, 'refused by the privilege check');
  }
  const count = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${ident(schema)}.audit_event`);
  t.ok(count[0]!.n > 0, 'the events are still there');
});
