/** Parameterised SQL by construction: every interpolated value becomes $n; identifiers only through ident(). */
import crypto from 'node:crypto';

export interface SqlQuery {
  readonly text: string;
  readonly values: unknown[];
  /** Set by prepared(): PostgreSQL parses and plans the statement once per connection under this name. */
  readonly name?: string;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

class Fragment {
  constructor(readonly strings: readonly string[], readonly args: readonly unknown[], readonly name?: string) {}
}

class Identifier {
  constructor(readonly name: string) {}
}

class Raw {
  constructor(readonly text: string) {}
}

/** A checked SQL identifier (schema, table); only lower-case names from our own allow-lists pass. */
export function ident(name: string): Identifier {
  if (!IDENT.test(name)) throw new Error(`Unsafe SQL identifier: ${JSON.stringify(name)}`);
  return new Identifier(name);
}

/** Trusted SQL text written by us (never from input). */
export const raw = (text: string): Raw => new Raw(text);

/** Joins fragments with a separator, e.g. join(conditions, ' AND '). */
export function join(parts: Fragment[], separator: string): Fragment {
  if (parts.length === 0) return new Fragment([''], []);
  const strings = ['', ...Array.from({ length: parts.length - 1 }, () => separator), ''];
  return new Fragment(strings, parts);
}

export function sql(strings: TemplateStringsArray, ...args: unknown[]): Fragment {
  return new Fragment(strings, args);
}

export type Sql = Fragment;

/**
 * A statement from trusted text split around its values (parts.length = values.length + 1), as a tagged template
 * would give: for hot statements whose text is built once and kept, each value still a bind parameter.
 */
export function sqlParts(parts: readonly string[], values: readonly unknown[]): Fragment {
  if (parts.length !== values.length + 1) throw new Error('sqlParts: one more text part than values');
  return new Fragment(parts, values);
}

const STATEMENT_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A hot statement to be kept prepared (parsed and planned once per connection) under `name`, which must stand for
 * exactly one SQL text. PostgreSQL only; PGlite runs it unnamed. For statements run thousands of times a second.
 */
export function prepared(name: string, f: Fragment): Fragment {
  if (!STATEMENT_NAME.test(name)) throw new Error(`Unsafe statement name: ${JSON.stringify(name)}`);
  return new Fragment(f.strings, f.args, name);
}

/**
 * prepared() under a name derived from the statement's text (a prefix and its SHA-256): for statements whose text
 * varies with a few shapes (a tenant's schema, an access narrowing), each shape parsed and planned once per connection.
 */
export function preparedByText(prefix: string, f: Fragment): Fragment {
  const text = render(f, []);
  return prepared(`${prefix}_${crypto.createHash('sha256').update(text).digest('hex').slice(0, 40)}`, f);
}

/**
 * f with its identifiers, trusted text and nested fragments folded into its text, keeping its name: rendering it again
 * only numbers its values. For a statement built and named once and rerun with other values (withValues).
 */
export function flatten(f: Fragment): Fragment {
  const strings = [''];
  const args: unknown[] = [];
  const walk = (g: Fragment) => {
    strings[strings.length - 1] += g.strings[0] ?? '';
    g.args.forEach((arg, i) => {
      if (arg instanceof Fragment) walk(arg);
      else if (arg instanceof Identifier) strings[strings.length - 1] += `"${arg.name}"`;
      else if (arg instanceof Raw) strings[strings.length - 1] += arg.text;
      else {
        args.push(arg);
        strings.push('');
      }
      strings[strings.length - 1] += g.strings[i + 1] ?? '';
    });
  };
  walk(f);
  return new Fragment(strings, args, f.name);
}

/** A flattened statement with other values, as many as it has: the same text, so the same prepared statement. */
export function withValues(f: Fragment, values: readonly unknown[]): Fragment {
  if (values.length !== f.args.length || f.args.some((a) => a instanceof Fragment || a instanceof Identifier || a instanceof Raw)) {
    throw new Error('withValues: a flattened statement and one value for each of its values');
  }
  return new Fragment(f.strings, values, f.name);
}

function render(f: Fragment, values: unknown[]): string {
  let text = f.strings[0] ?? '';
  f.args.forEach((arg, i) => {
    if (arg instanceof Fragment) text += render(arg, values);
    else if (arg instanceof Identifier) text += `"${arg.name}"`;
    else if (arg instanceof Raw) text += arg.text;
    else {
      values.push(arg);
      text += `$${values.length}`;
    }
    text += f.strings[i + 1] ?? '';
  });
  return text;
}

export function toQuery(f: Fragment): SqlQuery {
  const values: unknown[] = [];
  const text = render(f, values);
  return f.name ? { text, values, name: f.name } : { text, values };
}
