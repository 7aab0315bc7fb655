/**
 * SIGKILL of the node delivering a notification, then a restart (issue #20 "Bad input and faults"): the event
 * enqueued with its change stays in the outbox while its delivery is in flight; once the dead node's lease lapses a
 * new node delivers it. PostgreSQL only: a PGlite database lives inside the killed process.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { ident, sql } from '../../src/db/sql.js';
import { schemaFor } from '../../src/storage/tenants.js';
import { startServer, usingPostgres } from '../helpers/server.js';
import { SUBSCRIPTION_ENV, startReceiver, waitStatus } from './helpers.js';

t.test('SIGKILL between enqueue and delivery: the notification arrives after the restart', {
  skip: usingPostgres() ? false : 'needs PostgreSQL: a PGlite database lives inside the killed process' }, async (t) => {
  const s = await startServer(t, SUBSCRIPTION_ENV);
  const rx = await startReceiver(t);
  const S = ident(schemaFor(s.slug));
  const children: ChildProcess[] = [];
  t.teardown(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });
  const node = async () => {
    const child = fork(path.join(import.meta.dirname, 'delivery-node.ts'), [], {
      execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...SUBSCRIPTION_ENV, HEARTH_LOG_LEVEL: 'silent', HEARTH_BASE_URL: 'http://hearth.test', WORKER_SCHEMA: schemaFor(s.slug) },
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the delivery node never started')), 120_000);
      child.once('message', () => { clearTimeout(timer); resolve(); });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the delivery node exited (${code})`)); });
    });
    return child;
  };

  const created = await s.request('POST', 'Subscription', { body: { resourceType: 'Subscription', status: 'requested', reason: 'kill',
    criteria: 'Patient?family=Killmann', channel: { type: 'rest-hook', endpoint: `${rx.url}/kill`, payload: 'application/fhir+json' } } });
  t.equal(created.statusCode, 201, created.body);
  const id = created.json().id as string;
  const first = await node();
  await waitStatus(s, id, 'active', 60_000);

  rx.hang = true;
  const patient = await s.request('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Killmann' }] } });
  t.equal(patient.statusCode, 201, 'the write commits with its event, whatever the endpoint does');
  await rx.waitFor(1, (r) => r.url.startsWith('/kill/Patient/'), 60_000);
  const exited = new Promise((r) => first.once('exit', r));
  process.kill(first.pid!, 'SIGKILL');
  await exited;
  const pending = await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.subscription_event
    WHERE sub_id = ${id} AND delivered_at IS NULL`);
  t.equal(pending[0]!.n, 1, 'the event is still in the outbox');

  rx.hang = false;
  // The dead node's lease would lapse after the delivery timeout and a margin; the test does not wait for it.
  await s.deps.db.query(sql`UPDATE ${S}.subscription_state SET lease_until = now() - interval '1 second' WHERE id = ${id}`);
  await node();
  const arrivals = await rx.waitFor(2, (r) => r.url === `/kill/Patient/${patient.json().id}`, 60_000);
  t.equal(JSON.parse(arrivals[1]!.body).id, patient.json().id, 'delivered again by the new node (at least once)');
  const until = Date.now() + 30_000;
  let left = 1;
  while (left > 0 && Date.now() < until) {
    left = (await s.deps.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${S}.subscription_event
      WHERE sub_id = ${id} AND delivered_at IS NULL`))[0]!.n;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(left, 0, 'and marked delivered');
});
