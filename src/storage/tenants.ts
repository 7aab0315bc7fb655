/** Tenants: one PostgreSQL schema each, listed in the control schema (ARCHITECTURE §4). */
import type { Db, Queryable } from '../db/db.js';
import { CONTROL_SCHEMA, type Migration, migrateSchema } from '../db/migrate.js';
import { ensurePartitions } from '../db/partitions.js';
import { ident, sql } from '../db/sql.js';
import { invalidTenantSlug, tenantExists, unknownTenant } from '../errors.js';

export interface Tenant {
  slug: string;
  /** Schema name derived from the validated slug, never taken from a client. */
  schema: string;
  createdAt?: Date;
  displayName?: string;
  contact?: string;
  /** Set while the tenant is suspended (issue #17 §5): its FHIR and SMART endpoints answer 403, its jobs wait. */
  suspendedAt?: Date;
  suspendedReason?: string;
  /** The host name the tenant is also served at (its /fhir is the tenant's base; issue #17 §5). */
  host?: string;
}

interface TenantRow {
  slug: string; schema_name: string; created_at: Date; display_name: string | null; contact: string | null;
  suspended_at: Date | null; suspended_reason: string | null; host: string | null;
}

const TENANT_COLUMNS = sql`t.slug, t.schema_name, t.created_at, t.display_name, t.contact, t.suspended_at, t.suspended_reason, t.host`;

const tenantOf = (r: TenantRow): Tenant => ({ slug: r.slug, schema: r.schema_name, createdAt: r.created_at,
  ...(r.display_name !== null ? { displayName: r.display_name } : {}), ...(r.contact !== null ? { contact: r.contact } : {}),
  ...(r.suspended_at !== null ? { suspendedAt: new Date(r.suspended_at) } : {}),
  ...(r.suspended_reason !== null ? { suspendedReason: r.suspended_reason } : {}), ...(r.host ? { host: r.host } : {}) });

export const TENANT_SLUG = /^[a-z][a-z0-9-]{0,39}$/;

export const schemaFor = (slug: string): string => `t_${slug.replace(/-/g, '_')}`;

export function assertSlug(slug: string): void {
  if (!TENANT_SLUG.test(slug)) throw invalidTenantSlug();
}

export async function findTenant(db: Db, slug: string): Promise<Tenant | undefined> {
  if (!TENANT_SLUG.test(slug)) return undefined;
  const rows = await db.query<TenantRow>(sql`SELECT ${TENANT_COLUMNS} FROM ${ident(CONTROL_SCHEMA)}.tenant t WHERE t.slug = ${slug}`);
  return rows[0] && tenantOf(rows[0]);
}

/**
 * The tenant and whether one SMART grant of it is live, in one round trip (the per-request path of the FHIR API).
 * undefined when the tenant does not exist (its schema then does not either).
 */
/** A role of the grant's user, as the resource server applies it (auth/roles.ts). */
export interface GrantRole { name: string; scopes: string; relationship: string[] | null; breakGlass: boolean; purpose: string[] }

/** A break-the-glass session of the grant's user, not expired when read (auth/break-glass.ts). */
export interface GrantGlass { patient: string; expiresAt: string }

/**
 * The tenant, whether the grant is live, and — when its user is managed by roles — the user's roles and open
 * break-the-glass sessions.
 */
export interface TenantAndGrant { tenant: Tenant; grantActive: boolean; roles?: GrantRole[]; glass?: GrantGlass[] }

export async function findTenantAndGrant(db: Db, slug: string, grantId: string): Promise<TenantAndGrant | undefined> {
  if (!TENANT_SLUG.test(slug)) return undefined;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(grantId) ? grantId : null;
  const s = ident(schemaFor(slug));
  let rows;
  try {
    rows = await db.query<TenantRow & { active: boolean | null; roles: GrantRole[] | null; glass: GrantGlass[] | null }>(
      sql`SELECT ${TENANT_COLUMNS},
        (SELECT g.revoked_at IS NULL FROM ${s}.auth_grant g WHERE g.id = ${uuid}::uuid) AS active,
        (SELECT CASE WHEN u.roles IS NULL THEN NULL ELSE coalesce((SELECT json_agg(json_build_object('name', r.name,
            'scopes', r.scopes, 'relationship', r.relationship, 'breakGlass', r.break_glass, 'purpose', r.purpose) ORDER BY r.name)
          FROM ${s}.auth_role r WHERE r.name = ANY(u.roles)), '[]'::json) END
          FROM ${s}.auth_grant g JOIN ${s}.auth_user u ON u.id = g.user_id WHERE g.id = ${uuid}::uuid) AS roles,
        (SELECT json_agg(json_build_object('patient', b.patient, 'expiresAt', b.expires_at))
          FROM ${s}.auth_grant g JOIN ${s}.auth_break_glass b ON b.user_id = g.user_id
          WHERE g.id = ${uuid}::uuid AND b.expires_at > now()) AS glass
        FROM ${ident(CONTROL_SCHEMA)}.tenant t WHERE t.slug = ${slug}`);
  } catch (e) {
    if (['3F000', '42P01'].includes((e as { code?: string }).code ?? '')) return undefined; // no such schema
    throw e;
  }
  const row = rows[0];
  if (!row || row.schema_name !== schemaFor(slug)) return undefined;
  const json = <T>(v: T | string | null): T | null => (typeof v === 'string' ? JSON.parse(v) as T : v);
  const roles = json(row.roles);
  const glass = json(row.glass);
  return { tenant: tenantOf(row), grantActive: row.active === true,
    ...(roles ? { roles } : {}), ...(roles && glass ? { glass } : {}) };
}

export async function listTenants(db: Db): Promise<Tenant[]> {
  const rows = await db.query<TenantRow>(sql`SELECT ${TENANT_COLUMNS} FROM ${ident(CONTROL_SCHEMA)}.tenant t ORDER BY t.slug`);
  return rows.map(tenantOf);
}

/** Suspends the tenant with a reason (reason null: reactivates it); every node forgets its cached grants at commit. */
export async function setSuspended(db: Db, slug: string, reason: string | null, at: Date): Promise<Tenant> {
  const rows = await db.query<TenantRow>(sql`UPDATE ${ident(CONTROL_SCHEMA)}.tenant t SET
      suspended_at = ${reason === null ? null : at}::timestamptz, suspended_reason = ${reason},
      -- reactivating a tenant cancels its offboarding deletion
      delete_after = CASE WHEN ${reason === null} THEN NULL ELSE t.delete_after END
    WHERE t.slug = ${slug} RETURNING ${TENANT_COLUMNS}`);
  if (!rows[0]) throw unknownTenant(slug);
  return tenantOf(rows[0]);
}

/** Changes the operators' details of a tenant: displayName and contact (null clears one; absent keeps it). */
export async function setTenantDetails(db: Db, slug: string,
  details: { displayName?: string | null; contact?: string | null; host?: string | null }): Promise<Tenant> {
  const keep = (v: string | null | undefined) => v === undefined;
  const rows = await db.query<TenantRow>(sql`UPDATE ${ident(CONTROL_SCHEMA)}.tenant t SET
      display_name = CASE WHEN ${keep(details.displayName)} THEN t.display_name ELSE ${details.displayName ?? null}::text END,
      contact = CASE WHEN ${keep(details.contact)} THEN t.contact ELSE ${details.contact ?? null}::text END,
      host = CASE WHEN ${keep(details.host)} THEN t.host ELSE ${details.host ?? null}::text END
    WHERE t.slug = ${slug} RETURNING ${TENANT_COLUMNS}`);
  if (!rows[0]) throw unknownTenant(slug);
  return tenantOf(rows[0]);
}

/**
 * The tenants scheduled work may touch: those whose schema exists, i.e. whose first migration transaction committed.
 * createTenant commits the tenant's row before its schema, so a job listing all rows meanwhile met missing tables
 * (42P01; issue #12 §12).
 */
export async function listReadyTenants(db: Db): Promise<Tenant[]> {
  const rows = await db.query<{ slug: string; schema_name: string; created_at: Date }>(
    sql`SELECT slug, schema_name, created_at FROM ${ident(CONTROL_SCHEMA)}.tenant
      WHERE to_regclass(format('%I.schema_migration', schema_name)) IS NOT NULL ORDER BY slug`);
  return rows.map((r) => ({ slug: r.slug, schema: r.schema_name, createdAt: r.created_at }));
}

/** Creates the tenant's schema from the tenant migrations; 409 if it exists. */
export async function createTenant(db: Db, slug: string, migrations: Migration[]): Promise<Tenant> {
  assertSlug(slug);
  const schema = schemaFor(slug);
  const inserted = await db.query(sql`INSERT INTO ${ident(CONTROL_SCHEMA)}.tenant (slug, schema_name)
    VALUES (${slug}, ${schema}) ON CONFLICT (slug) DO NOTHING RETURNING slug`);
  if (inserted.length === 0) throw tenantExists(slug);
  try {
    // A stale key of a schema of this name (a deletion that failed half-way) must not be reused.
    await db.keyring.destroyKeys(db, schema);
    if (db.keyring.enabled) await db.keyring.createKey(db, schema); // encryption at rest (issue #17 §1)
    await migrateSchema(db, schema, migrations);
    await ensurePartitions(db, schema, new Date());
  } catch (e) {
    await db.keyring.destroyKeys(db, schema);
    await db.query(sql`DELETE FROM ${ident(CONTROL_SCHEMA)}.tenant WHERE slug = ${slug}`);
    throw e;
  }
  return (await findTenant(db, slug))!;
}

/** Who deleted a tenant, as the control schema's tenant_deletion keeps it. */
export interface DeletedBy { operator: string; address?: string; requestId?: string }

/**
 * Destroys the tenant's data keys, drops the tenant's schema and everything in it, and records who did in the control schema (the tenant's own audit
 * trail goes with it); 404 if unknown.
 */
export async function deleteTenant(db: Db, slug: string, by: DeletedBy): Promise<void> {
  const tenant = await findTenant(db, slug);
  if (!tenant) throw unknownTenant(slug);
  await db.transaction(async (tx) => {
    // Crypto-shredding first (issue #17 §2): once the data keys are gone, copies of the rows are unreadable.
    await db.keyring.destroyKeys(tx, tenant.schema);
    await tx.query(sql`DELETE FROM ${ident(CONTROL_SCHEMA)}.tenant WHERE slug = ${slug}`);
    await tx.query(sql`INSERT INTO ${ident(CONTROL_SCHEMA)}.tenant_deletion (slug, schema_name, operator, address, request_id)
      VALUES (${slug}, ${tenant.schema}, ${by.operator}, ${by.address ?? null}, ${by.requestId ?? null})`);
    await tx.query(sql`DROP SCHEMA IF EXISTS ${ident(tenant.schema)} CASCADE`);
  });
}

export interface TenantDeletion { slug: string; schema: string; deletedAt: string; operator: string; address?: string; requestId?: string }

/** The recorded tenant deletions, newest first. */
export async function listTenantDeletions(db: Queryable): Promise<TenantDeletion[]> {
  const rows = await db.query<{ slug: string; schema_name: string; deleted_at: Date; operator: string; address: string | null;
    request_id: string | null }>(sql`SELECT slug, schema_name, deleted_at, operator, address, request_id
    FROM ${ident(CONTROL_SCHEMA)}.tenant_deletion ORDER BY seq DESC`);
  return rows.map((r) => ({ slug: r.slug, schema: r.schema_name, deletedAt: new Date(r.deleted_at).toISOString(), operator: r.operator,
    ...(r.address ? { address: r.address } : {}), ...(r.request_id ? { requestId: r.request_id } : {}) }));
}

/** Every tenant's host name (host → slug), for routing by host. */
export async function tenantHosts(db: Queryable): Promise<Map<string, string>> {
  const rows = await db.query<{ host: string; slug: string }>(sql`SELECT host, slug FROM ${ident(CONTROL_SCHEMA)}.tenant WHERE host IS NOT NULL`);
  return new Map(rows.map((r) => [r.host, r.slug]));
}

/** Brings every tenant schema up to date (at start and on `hearth migrate`). */
export async function migrateTenants(db: Db, migrations: Migration[]): Promise<Map<string, number[]>> {
  const applied = new Map<string, number[]>();
  for (const t of await listTenants(db)) {
    // FOR SHARE holds off a concurrent tenant delete until this migration commits; a tenant deleted meanwhile is skipped.
    const stillThere = async (tx: Queryable) => (await tx.query(sql`SELECT 1 FROM ${ident(CONTROL_SCHEMA)}.tenant
      WHERE slug = ${t.slug} FOR SHARE`)).length > 0;
    applied.set(t.slug, await migrateSchema(db, t.schema, migrations, stillThere));
    if (await stillThere(db)) await ensurePartitions(db, t.schema, new Date());
  }
  return applied;
}
