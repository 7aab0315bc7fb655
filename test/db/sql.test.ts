/**
 * Statements kept and rerun (src/db/sql.ts flatten/withValues): a flattened statement renders to the same text and
 * values as the statement it came from, keeps its prepared name, and runs with other values on the real database.
 */
import t from 'tap';
import { flatten, ident, preparedByText, raw, sql, toQuery, withValues } from '../../src/db/sql.js';
import { startServer } from '../helpers/server.js';

t.test('a flattened statement renders as the original, name included', async (t) => {
  const inner = sql`x = ${1} AND y IN (${sql`SELECT ${'a'}::text`})`;
  const f = preparedByText('t', sql`SELECT ${raw('1')} FROM ${ident('some_table')} WHERE ${inner} AND z = ${'last'}`);
  const flat = flatten(f);
  t.same(toQuery(flat), toQuery(f));
  t.same(toQuery(withValues(flat, [2, 'b', 'other'])).values, [2, 'b', 'other']);
  t.equal(toQuery(withValues(flat, [2, 'b', 'other'])).text, toQuery(f).text, 'the same text: the same prepared statement');
  t.throws(() => withValues(flat, [1]), /one value for each/, 'a value missing is refused');
  t.throws(() => withValues(f, [1, 'a', 'last']), /flattened/, 'a statement not flattened is refused');
});

t.test('a flattened statement reruns with other values', async (t) => {
  const db = (await startServer(t)).deps.db;
  const flat = flatten(preparedByText('t', sql`SELECT ${1}::int + ${2}::int AS n, ${'a'}::text AS s`));
  for (const [a, b, c] of [[1, 2, 'x'], [40, 2, 'y']] as const) {
    t.same(await db.query(withValues(flat, [a, b, c])), [{ n: a + b, s: c }]);
  }
});
