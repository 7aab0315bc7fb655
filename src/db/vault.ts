/**
 * Encryption at rest (issue #17 §1, README "Encryption at rest"): envelope encryption per tenant. Each tenant has its
 * own 256-bit data keys (control schema `tenant_key`), each wrapped by the key-encryption key a KeyProvider holds —
 * from configuration here, a cloud KMS's Encrypt/Decrypt in a deployment that has one. A resource version's body is
 * stored as AES-256-GCM ciphertext (`sealed`) whose associated data binds it to its tenant, type, id and version, so
 * a row copied onto another row, or into another tenant, fails to decrypt instead of answering the wrong data.
 *
 * Opening is done here, in the database layer, for every row any statement returns with a `sealed_in` column (see
 * sealedColumns): no read path can forget to decrypt, and none sees ciphertext.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Config } from '../config.js';
import { sealedUnreadable } from '../errors.js';
import type { Keyring, Queryable, Row, Sealer, StoredBody } from './db.js';
import { CONTROL_SCHEMA } from './migrate.js';
import { type Sql, ident, raw, sql } from './sql.js';

/** Wraps and unwraps data keys; `context` is bound to the wrapped key (AAD, or a KMS encryption context). */
export interface KeyProvider {
  /** Names the key-encryption key's kind, stored beside what it wrapped (e.g. "secret", "file"). */
  readonly name: string;
  wrap(plain: Buffer, context: string): Promise<Buffer>;
  unwrap(wrapped: Buffer, context: string): Promise<Buffer>;
}

const GCM = 'aes-256-gcm';
const IV = 12;
const TAG = 16;

/**
 * IVs are cut from a pool of random bytes refilled 512 at a time: one CSPRNG call per 512 seals instead of one each
 * (it was a tenth of a sealed write's cost). Each IV is used once; a pool buffer is never refilled in place.
 */
const IV_POOL = IV * 512;
let ivPool = Buffer.alloc(0);
let ivAt = IV_POOL;

function freshIv(): Buffer {
  if (ivAt + IV > ivPool.length) {
    ivPool = crypto.randomBytes(IV_POOL);
    ivAt = 0;
  }
  ivAt += IV;
  return ivPool.subarray(ivAt - IV, ivAt);
}

/** header | IV | tag | ciphertext, written into one buffer (GCM's final() adds no bytes). */
function gcmSeal(key: crypto.KeyObject | Buffer, plain: Buffer | string, aad: Buffer, header: Buffer = Buffer.alloc(0)): Buffer {
  const iv = freshIv();
  const cipher = crypto.createCipheriv(GCM, key, iv);
  cipher.setAAD(aad);
  const body = typeof plain === 'string' ? cipher.update(plain, 'utf8') : cipher.update(plain);
  cipher.final();
  const out = Buffer.allocUnsafe(header.length + IV + TAG + body.length);
  header.copy(out, 0);
  iv.copy(out, header.length);
  cipher.getAuthTag().copy(out, header.length + IV);
  body.copy(out, header.length + IV + TAG);
  return out;
}

/** Throws on any mismatch of key, data or associated data (GCM authentication). */
function gcmOpen(key: crypto.KeyObject | Buffer, sealed: Buffer, aad: Buffer, offset = 0): Buffer {
  const decipher = crypto.createDecipheriv(GCM, key, sealed.subarray(offset, offset + IV));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(offset + IV, offset + IV + TAG));
  return Buffer.concat([decipher.update(sealed.subarray(offset + IV + TAG)), decipher.final()]);
}

/** A key-encryption key held in this process (from HEARTH_KEY_SECRET or a key file). */
export class LocalKeyProvider implements KeyProvider {
  constructor(private readonly kek: Buffer, readonly name: string) {
    if (kek.length !== 32) throw new Error('a key-encryption key is 32 bytes');
  }

  async wrap(plain: Buffer, context: string): Promise<Buffer> {
    return gcmSeal(this.kek, plain, Buffer.from(context, 'utf8'));
  }

  async unwrap(wrapped: Buffer, context: string): Promise<Buffer> {
    return gcmOpen(this.kek, wrapped, Buffer.from(context, 'utf8'));
  }
}

/** Where the embedded default keeps its generated key file: beside the data directory, not inside it. */
export const defaultKeyFile = (dataDir: string): string => `${path.resolve(dataDir)}.key`;

export interface ProviderChoice { provider: KeyProvider; source: string; generated: boolean }

/**
 * The key-encryption key configuration names: HEARTH_KEY_SECRET (HKDF-SHA-256 of it), else the key file
 * (HEARTH_KEY_FILE, default `<data dir>.key`: 32 random bytes in base64, created with mode 0600 when missing).
 */
export function keyProviderFor(config: Pick<Config, 'keySecret' | 'keyFile' | 'dataDir'>): ProviderChoice {
  if (config.keySecret) {
    const kek = Buffer.from(crypto.hkdfSync('sha256', config.keySecret, 'hearth', 'hearth key-encryption key', 32));
    return { provider: new LocalKeyProvider(kek, 'secret'), source: 'HEARTH_KEY_SECRET', generated: false };
  }
  const file = config.keyFile ?? defaultKeyFile(config.dataDir);
  let generated = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Written whole under another name, then linked into place: a process starting at the same moment either finds
    // no file or a complete one, never a half-written key.
    const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(temp, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(temp, file);
      generated = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another process made it first: use theirs
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }
  const kek = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (kek.length !== 32) throw new Error(`The key file ${file} does not hold a 32-byte key in base64`);
  return { provider: new LocalKeyProvider(kek, 'file'), source: file, generated };
}

/**
 * A tsvector holds at most 1 MB: the words kept for full-text search skip strings longer than this (base64 data,
 * not words) and stop at WORDS_MAX characters in all.
 */
const WORD_STRING_MAX = 4096;
const WORDS_MAX = 262144;

/** The string values of a JSON value, in document order (what jsonb_to_tsvector(..., '["string"]') reads), bounded. */
function stringsOf(value: unknown, out: string[] = [], depth = 0, size = { n: 0 }): string[] {
  if (typeof value === 'string') {
    if (value.length <= WORD_STRING_MAX && size.n + value.length <= WORDS_MAX) {
      out.push(value);
      size.n += value.length + 1;
    }
  } else if (depth < 64 && value !== null && typeof value === 'object') {
    for (const v of Array.isArray(value) ? value : Object.values(value)) stringsOf(v, out, depth + 1, size);
  }
  return out;
}

/** openDb's key options from configuration. */
export const keyOptions = (config: Pick<Config, 'keySecret' | 'keyFile' | 'dataDir' | 'encryption'>) =>
  ({ keys: keyProviderFor(config).provider, sealNewTenants: config.encryption });

/** Blob layout: format (1 byte) | key version (uint32 BE) | IV (12) | tag (16) | ciphertext. */
const FORMAT = 1;
const HEADER = 5;
const CHECK_CONTEXT = 'hearth key check';
const CHECK_VALUE = Buffer.from('hearth key-encryption key check v1', 'utf8');
/** How long a node trusts its cached view of a tenant's keys (another node may have rotated or added one). */
const KEYS_TTL_MS = 5000;

/** The header's bytes, then the names the ciphertext is bound to (one allocation: this runs for every row written and read). */
function boundTo(header: Buffer, names: string): Buffer {
  const aad = Buffer.allocUnsafe(header.length + Buffer.byteLength(names, 'utf8'));
  header.copy(aad, 0);
  aad.write(names, header.length, 'utf8');
  return aad;
}
const aadOf = (header: Buffer, schema: string, type: string, id: string, version: number) =>
  boundTo(header, `${schema}\0${type}\0${id}\0${version}`);
const blockAad = (header: Buffer, schema: string, context: string) => boundTo(header, `block\0${schema}\0${context}`);
const headerOf = (version: number) => {
  const header = Buffer.alloc(HEADER);
  header.writeUInt8(FORMAT, 0);
  header.writeUInt32BE(version, 1);
  return header;
};
/** The overhead of a sealed blob over its plain text, and the key version its header names. */
export const SEALED_OVERHEAD = HEADER + IV + TAG;
export const sealedKeyVersion = (sealed: Buffer): number => sealed.readUInt32BE(1);
const keyContext = (schema: string, version: number) => `hearth tenant key\0${schema}\0${version}`;

interface TenantKeys { active?: number; keys: Map<number, crypto.KeyObject>; at: number }

/** The mark of a statement's sealed rows: the schema they come from, as a constant (its name is an identifier of ours). */
export function sealedIn(schema: string): Sql {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name '${schema}'`);
  return sql`${raw(`'${schema}'::text`)}`;
}

/** An AuditEvent row's body columns (alias e): version 1 of AuditEvent/<id>, whatever its own `type` column holds. */
export function sealedAuditColumns(schema: string): Sql {
  return sql`${raw(`e.content, e.sealed, 'AuditEvent/' || e.id::text AS sealed_for`)}, ${sealedIn(schema)} AS sealed_in`;
}

/**
 * The body columns of a resource table alias, marked with their schema so the database layer opens them: the row
 * must also carry its type, id and version (the associated data).
 */
export function sealedColumns(schema: string, alias?: string): Sql {
  const p = alias ? `${alias}.` : '';
  return sql`${raw(`${p}content, ${p}sealed`)}, ${sealedIn(schema)} AS sealed_in`;
}

export class Vault {
  private readonly cache = new Map<string, Promise<TenantKeys>>();

  /**
   * provider undefined: no key-encryption key (plain rows only; a sealed row cannot be read). sealNewTenants false
   * (HEARTH_ENCRYPTION=off): new tenants get no data key, existing keys still read and write.
   */
  constructor(readonly provider?: KeyProvider, private readonly sealNewTenants = true) {}

  /**
   * The keyring as a handle uses it: keys it has not cached are read through that very handle (PGlite has one
   * session: a read on another handle would wait for the handle's own transaction to end).
   */
  bind(via: Queryable): Keyring {
    let keyring = this.bound.get(via);
    if (!keyring) this.bound.set(via, keyring = this.makeKeyring(via));
    return keyring;
  }

  /** One keyring per handle (a handle asks for it on every write). */
  private readonly bound = new WeakMap<Queryable, Keyring>();

  private makeKeyring(via: Queryable): Keyring {
    return {
      enabled: this.enabled,
      body: (schema, type, id, version, resource) => this.body(via, schema, type, id, version, resource),
      sealing: (schema) => this.sealing(via, schema),
      sealer: (schema) => this.sealer(via, schema),
      openText: (schema, type, id, version, sealed) => this.openText(via, schema, type, id, version, sealed),
      sealBlock: (schema, context, plain) => this.sealBlock(via, schema, context, plain),
      openBlock: (schema, context, sealed) => this.openBlock(via, schema, context, sealed),
      versions: async (schema) => {
        this.cache.delete(schema); // asked for the latest (a rotation on another node), not a cached view
        return [...(await this.keysOf(via, schema)).keys.keys()].sort((a, b) => a - b);
      },
      retireKeys: (db, schema, version) => this.retireKeys(db, schema, version),
      createKey: (db, schema) => this.createKey(db, schema),
      destroyKeys: (db, schema) => this.destroyKeys(db, schema),
      verify: (db) => this.verify(db),
    };
  }

  get enabled(): boolean {
    return this.provider !== undefined && this.sealNewTenants;
  }

  /**
   * Checks the key-encryption key against the one the database was set up with, before anything else is written:
   * the first start records a value wrapped by it; a later start with another key fails to unwrap it.
   */
  async verify(db: Queryable): Promise<void> {
    if (!this.provider) return;
    const ready = await db.query<{ t: string | null }>(sql`SELECT to_regclass(${`${CONTROL_SCHEMA}.key_check`})::text AS t`);
    if (!ready[0]?.t) return; // before the control migrations of a fresh database: checked again once they ran
    const rows = await db.query<{ provider: string; wrapped: Buffer }>(sql`SELECT provider, wrapped FROM ${ident(CONTROL_SCHEMA)}.key_check`);
    if (rows[0]) {
      let ok = false;
      try {
        ok = (await this.provider.unwrap(Buffer.from(rows[0].wrapped), CHECK_CONTEXT)).equals(CHECK_VALUE);
      } catch {
        ok = false;
      }
      if (!ok) {
        throw new Error(`The key-encryption key (${this.provider.name}) is not the one this database's tenant keys are wrapped with `
          + `(it was set up with a ${rows[0].provider} key): set HEARTH_KEY_SECRET or HEARTH_KEY_FILE to that key. Nothing was written.`);
      }
      return;
    }
    await db.query(sql`INSERT INTO ${ident(CONTROL_SCHEMA)}.key_check (provider, wrapped)
      VALUES (${this.provider.name}, ${await this.provider.wrap(CHECK_VALUE, CHECK_CONTEXT)}) ON CONFLICT DO NOTHING`);
  }

  /** Makes the tenant's next data key version (random 256 bits) and answers its number. */
  async createKey(db: Queryable, schema: string): Promise<number> {
    if (!this.provider) throw new Error('No key-encryption key is configured');
    const rows = await db.query<{ v: number }>(sql`SELECT coalesce(max(version), 0) + 1 AS v FROM ${ident(CONTROL_SCHEMA)}.tenant_key
      WHERE schema_name = ${schema}`);
    const version = Number(rows[0]!.v);
    const wrapped = await this.provider.wrap(crypto.randomBytes(32), keyContext(schema, version));
    await db.query(sql`INSERT INTO ${ident(CONTROL_SCHEMA)}.tenant_key (schema_name, version, wrapped, provider)
      VALUES (${schema}, ${version}, ${wrapped}, ${this.provider.name})`);
    this.cache.delete(schema);
    return version;
  }

  /** Destroys every data key of the tenant (crypto-shredding): its sealed rows, wherever copied, become unreadable. */
  async destroyKeys(db: Queryable, schema: string): Promise<void> {
    await db.query(sql`DELETE FROM ${ident(CONTROL_SCHEMA)}.tenant_key WHERE schema_name = ${schema}`);
    this.cache.delete(schema);
  }

  /** Destroys the data key versions older than `version`; answers how many. */
  async retireKeys(db: Queryable, schema: string, version: number): Promise<number> {
    const gone = await db.query(sql`DELETE FROM ${ident(CONTROL_SCHEMA)}.tenant_key WHERE schema_name = ${schema} AND version < ${version}
      RETURNING version`);
    this.cache.delete(schema);
    return gone.length;
  }

  private keysOf(via: Queryable, schema: string): Promise<TenantKeys> {
    const cached = this.cache.get(schema);
    if (cached) return cached;
    const loading = this.load(via, schema);
    this.cache.set(schema, loading);
    loading.then((k) => setTimeout(() => { if (this.cache.get(schema) === loading) this.cache.delete(schema); }, KEYS_TTL_MS - (Date.now() - k.at)).unref(),
      () => this.cache.delete(schema));
    return loading;
  }

  private async load(via: Queryable, schema: string): Promise<TenantKeys> {
    const keys = new Map<number, crypto.KeyObject>();
    const rows = await via.query<{ version: number; wrapped: Buffer }>(sql`SELECT version, wrapped FROM ${ident(CONTROL_SCHEMA)}.tenant_key
      WHERE schema_name = ${schema} ORDER BY version`);
    if (rows.length > 0 && !this.provider) throw new Error(`Tenant schema ${schema} is encrypted: configure its key-encryption key`);
    for (const r of rows) {
      keys.set(Number(r.version), crypto.createSecretKey(await this.provider!.unwrap(Buffer.from(r.wrapped), keyContext(schema, Number(r.version)))));
    }
    return { keys, at: Date.now(), ...(rows.length > 0 ? { active: Number(rows[rows.length - 1]!.version) } : {}) };
  }

  /** A version's body as a writer stores it: sealed under the tenant's newest key, or in clear without one. */
  async body(via: Queryable, schema: string, type: string, id: string, version: number, resource: unknown): Promise<StoredBody> {
    const json = JSON.stringify(resource);
    const plain = { content: json, sealed: null, words: null, narrative: null };
    if (!this.provider) return plain;
    const seal = await this.sealer(via, schema);
    if (!seal) return plain;
    const div = (resource as { text?: { div?: unknown } } | undefined)?.text?.div;
    return { content: null, sealed: seal(type, id, version, json),
      words: stringsOf(resource).join(' \n '), narrative: typeof div === 'string' ? div.slice(0, WORDS_MAX) : null };
  }

  /** Seals under the tenant's newest key, bound to (schema, type, id, version); undefined for a tenant without a key. */
  async sealer(via: Queryable, schema: string): Promise<Sealer | undefined> {
    const active = await this.activeKey(via, schema);
    if (!active) return undefined;
    const { key, header } = active;
    return (type, id, version, text) => gcmSeal(key, text, aadOf(header, schema, type, id, version), header);
  }

  /** The tenant's newest key with the header naming it; undefined for a tenant without a key. */
  private async activeKey(via: Queryable, schema: string): Promise<{ key: crypto.KeyObject; header: Buffer } | undefined> {
    if (!this.provider) return undefined;
    const k = await this.keysOf(via, schema);
    return k.active === undefined ? undefined : { key: k.keys.get(k.active)!, header: headerOf(k.active) };
  }

  /** The key a sealed blob's header names, or undefined when the blob is malformed or that key is not (any more) there. */
  private async keyOf(via: Queryable, schema: string, sealed: Buffer): Promise<crypto.KeyObject | undefined> {
    if (sealed.length < SEALED_OVERHEAD || sealed.readUInt8(0) !== FORMAT || !this.provider) return undefined;
    return this.keyFor(via, schema, sealedKeyVersion(sealed));
  }

  /**
   * A block of a file under the tenant's newest key, in the body layout, its associated data the header and
   * `block\0<schema>\0<context>` (never equal to a body's, whose first part is the schema); undefined in clear.
   */
  async sealBlock(via: Queryable, schema: string, context: string, plain: Buffer): Promise<Buffer | undefined> {
    const active = await this.activeKey(via, schema);
    return active && gcmSeal(active.key, plain, blockAad(active.header, schema, context), active.header);
  }

  /** Opens a block sealBlock made; throws (without content) when it does not. */
  async openBlock(via: Queryable, schema: string, context: string, sealed: Buffer): Promise<Buffer> {
    const key = await this.keyOf(via, schema, sealed);
    if (!key) throw new Error(`not a sealed block of ${schema}, or its key version is gone`);
    return gcmOpen(key, sealed, blockAad(sealed.subarray(0, HEADER), schema, context), HEADER);
  }

  /** Whether the tenant's new rows are sealed. */
  async sealing(via: Queryable, schema: string): Promise<boolean> {
    return this.provider !== undefined && (await this.keysOf(via, schema)).active !== undefined;
  }

  private async keyFor(via: Queryable, schema: string, version: number): Promise<crypto.KeyObject | undefined> {
    let k = await this.keysOf(via, schema);
    if (!k.keys.has(version)) { // a key another node made since: look again once
      this.cache.delete(schema);
      k = await this.keysOf(via, schema);
    }
    return k.keys.get(version);
  }

  /**
   * Replaces the sealed columns of rows (marked by `sealed_in`) with their opened `content`. A row that does not
   * open — another key, another row's or tenant's ciphertext, changed bytes — fails the statement with 500.
   */
  async openRows(via: Queryable, rows: Row[]): Promise<void> {
    for (const row of rows) {
      const sealed = row.sealed as Buffer | null | undefined;
      const schema = row.sealed_in as string;
      delete row.sealed;
      delete row.sealed_in;
      if (!sealed) {
        delete row.sealed_for;
        continue;
      }
      // An AuditEvent row names itself in sealed_for (its own `type` column is the event's type codes).
      const named = typeof row.sealed_for === 'string' ? row.sealed_for.split('/') : undefined;
      delete row.sealed_for;
      const type = named ? named[0]! : row.type as string;
      const id = named ? named[1]! : row.id as string;
      const version = named ? 1 : Number(row.version);
      if (typeof type !== 'string' || typeof id !== 'string' || !Number.isInteger(version)) {
        throw new Error('a sealed body was read without its type, id and version');
      }
      const text = await this.openText(via, schema, type, id, version, sealed);
      try {
        row.content = JSON.parse(text);
      } catch {
        throw sealedUnreadable(type, id, version);
      }
    }
  }

  /** One sealed body's JSON text; a body that does not open is a 500 naming the row (sealedUnreadable). */
  async openText(via: Queryable, schema: string, type: string, id: string, version: number, sealed: Buffer): Promise<string> {
    const buf = Buffer.isBuffer(sealed) ? sealed : Buffer.from(sealed);
    const key = await this.keyOf(via, schema, buf);
    if (!key) throw sealedUnreadable(type, id, version);
    try {
      return gcmOpen(key, buf, aadOf(buf.subarray(0, HEADER), schema, type, id, version), HEADER).toString('utf8');
    } catch {
      throw sealedUnreadable(type, id, version);
    }
  }
}

/** Rows a statement on `via` answered, with sealed bodies opened (when the statement selected sealedColumns). */
export async function opened<T>(vault: Vault, via: Queryable, rows: T[]): Promise<T[]> {
  if (rows.length > 0 && Object.prototype.hasOwnProperty.call(rows[0], 'sealed_in')) await vault.openRows(via, rows as Row[]);
  return rows;
}
