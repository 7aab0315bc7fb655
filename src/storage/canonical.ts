/**
 * A tenant's conformance resources by canonical url, read inside the write being checked (issue #15 §4, §6): the
 * StructureDefinitions a resource claims and the CodeSystems and ValueSets its profiles bind. A server-internal read
 * (the check itself, not the caller's access, decides what it needs); look-ups are remembered for the rest of the
 * transaction, so a Bundle of 500 resources claiming one profile reads it once.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';

type Json = Record<string, unknown>;

export interface CanonicalStore {
  find(type: string, ref: string, version?: string): Promise<Json | undefined>;
  conceptMaps(limit: number): Promise<Json[]>;
  /** A live StructureDefinition that constrains a type (derivation = constraint), by url or `url|version`. */
  structureDefinition(url: string): Promise<Json | undefined>;
  /** The profiles the tenant requires of every resource of the type (kept in memory for 5 s a tenant). */
  required(type: string): Promise<string[]>;
}

const remembered = new WeakMap<Queryable, Map<string, Promise<Json | undefined>>>();

/**
 * The required profiles by schema, kept REQUIRED_TTL_MS: a read inside every write would cost creates their single
 * round trip (deferred writes and group commit send a create as one statement; the bench's creates halved). A change
 * through this process's admin API applies at once; on other nodes within the TTL.
 */
const REQUIRED_TTL_MS = 5_000;
const requiredCache = new Map<string, { value: Promise<Record<string, string[]>>; expires: number }>();


export function canonicalStore(db: Queryable, schema: string): CanonicalStore {
  // Only a transaction's look-ups are remembered: a pool or database handle lives across requests.
  const memo = remembered.get(db) ?? new Map<string, Promise<Json | undefined>>();
  if (!('transaction' in db)) remembered.set(db, memo);
  const table = sql`${ident(schema)}.resource`;
  const find = (type: string, ref: string, version?: string): Promise<Json | undefined> => {
    const key = `${schema}|${type}|${ref}|${version ?? ''}`;
    let hit = memo.get(key);
    if (!hit) {
      const local = new RegExp(`^${type}/([A-Za-z0-9\\-.]{1,64})$`).exec(ref);
      // By the url index, not the body: bodies may be encrypted (db/vault.ts); the version is checked on the opened body.
      const where = local ? sql`r.id = ${local[1]}` : sql`EXISTS (SELECT 1 FROM ${ident(schema)}.idx_uri u
        WHERE u.rid = r.rid AND u.type = ${type} AND u.param = 'url' AND u.uri = ${ref})`;
      hit = db.query<{ content: Json }>(sql`SELECT r.type, r.id, r.version, ${sealedColumns(schema, 'r')} FROM ${table} r
        WHERE r.type = ${type} AND NOT r.deleted AND ${where} ORDER BY r.last_updated DESC LIMIT 100`)
        .then((rows) => rows.find((r) => version === undefined || r.content.version === version)?.content);
      memo.set(key, hit);
    }
    return hit;
  };
  return {
    find,
    async conceptMaps(limit) {
      const rows = await db.query<{ content: Json }>(sql`SELECT type, id, version, ${sealedColumns(schema)} FROM ${table}
        WHERE type = 'ConceptMap' AND NOT deleted
        ORDER BY last_updated DESC LIMIT ${limit}`);
      return rows.map((r) => r.content);
    },
    async required(type) {
      const now = Date.now();
      let hit = requiredCache.get(schema);
      if (!hit || hit.expires <= now) {
        requiredCache.set(schema, hit = { value: requiredProfiles(db, schema), expires: now + REQUIRED_TTL_MS });
        hit.value.catch(() => requiredCache.delete(schema));
      }
      return (await hit.value)[type] ?? [];
    },
    async structureDefinition(url) {
      const [u, version] = url.split('|') as [string, string | undefined];
      const sd = await find('StructureDefinition', u, version);
      return sd?.derivation === 'constraint' ? sd : undefined;
    },
  };
}

/** Forgets what a transaction looked up (a StructureDefinition or ValueSet written in it changes the answers). */
export function forgetCanonicals(db: Queryable): void {
  remembered.delete(db);
}

/** The tenant's live profiles (constraint StructureDefinitions) by the type they constrain, for the CapabilityStatement. */
export async function tenantProfiles(db: Queryable, schema: string): Promise<Map<string, string[]>> {
  const rows = await db.query<{ content: Json }>(sql`SELECT r.type, r.id, r.version, ${sealedColumns(schema, 'r')}
    FROM ${ident(schema)}.resource r WHERE r.type = 'StructureDefinition' AND NOT r.deleted
      AND EXISTS (SELECT 1 FROM ${ident(schema)}.idx_token t WHERE t.rid = r.rid AND t.type = 'StructureDefinition'
        AND t.param = 'derivation' AND t.code = 'constraint') LIMIT 1000`);
  const out = new Map<string, string[]>();
  const profiles = rows.map((r) => r.content).filter((sd) => typeof sd.type === 'string' && typeof sd.url === 'string')
    .sort((a, b) => String(a.url).localeCompare(String(b.url)));
  for (const sd of profiles) out.set(sd.type as string, [...(out.get(sd.type as string) ?? []), sd.url as string]);
  return out;
}

/** The profiles the tenant requires of every resource of a type (issue #15 §4), by type. */
export async function requiredProfiles(db: Queryable, schema: string): Promise<Record<string, string[]>> {
  const [row] = await db.query<{ p: Record<string, string[]> }>(sql`SELECT required_profiles AS p FROM ${ident(schema)}.auth_setting LIMIT 1`);
  return row?.p ?? {};
}

export async function setRequiredProfiles(db: Queryable, schema: string, profiles: Record<string, string[]>): Promise<void> {
  await db.query(sql`UPDATE ${ident(schema)}.auth_setting SET required_profiles = ${JSON.stringify(profiles)}::jsonb`);
  requiredCache.delete(schema);
}
