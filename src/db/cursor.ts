/** Server-side cursors (DECLARE … FETCH), identical on PostgreSQL and PGlite. */
import type { Queryable } from './db.js';
import { type Sql, raw, sql } from './sql.js';

let counter = 0;

export async function declareCursor<T>(
  tx: Queryable, q: Sql, batchSize: number, onBatch: (rows: T[]) => Promise<void>,
): Promise<void> {
  const name = raw(`hearth_cursor_${++counter}`);
  const size = raw(String(Math.max(1, Math.trunc(batchSize))));
  await tx.query(sql`DECLARE ${name} NO SCROLL CURSOR FOR ${q}`);
  for (;;) {
    const rows = await tx.query<T>(sql`FETCH FORWARD ${size} FROM ${name}`);
    if (rows.length === 0) break;
    await onBatch(rows);
    if (rows.length < batchSize) break;
  }
  await tx.query(sql`CLOSE ${name}`);
}
