/** Long values in the search index: btree keys are a bounded prefix, compared whole after (issue #12 §8; migration 009). */
import { type Sql, sql } from '../../db/sql.js';
import { escapeLike } from '../escape.js';

/**
 * Characters of a text value in its btree key (`left(value, 256)` in migrations/tenant/009_index_prefix.sql): at 4
 * bytes a character two keys stay under the 2,704-byte btree row limit that a 2,600-character value broke (54000).
 */
export const KEY_CHARS = 256;

/** The index key of a search value: its first KEY_CHARS characters (code points, as PostgreSQL's left() counts). */
const keyOf = (value: string): string => [...value].slice(0, KEY_CHARS).join('');
const isShort = (value: string): boolean => [...value].length < KEY_CHARS;

/**
 * `column = value` through the prefix index. A value shorter than the key is decided by the key alone (a longer
 * stored value has a key of KEY_CHARS characters); a longer one compares the key, then the whole value.
 */
export function keyEquals(column: Sql, value: string): Sql {
  if (isShort(value)) return sql`left(${column}, 256) = ${value}`;
  return sql`(left(${column}, 256) = ${keyOf(value)} AND ${column} = ${value})`;
}

/**
 * `column` starts with `prefix` through the prefix index (a text_pattern_ops key serves LIKE 'p%'). A prefix of at
 * most KEY_CHARS characters is decided by the key alone; a longer one by the key's equality, then the whole value.
 */
export function keyStartsWith(column: Sql, prefix: string): Sql {
  const pattern = `${escapeLike(prefix)}%`;
  if ([...prefix].length <= KEY_CHARS) return sql`left(${column}, 256) LIKE ${pattern}`;
  return sql`(left(${column}, 256) = ${keyOf(prefix)} AND ${column} LIKE ${pattern})`;
}
