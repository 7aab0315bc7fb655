/**
 * The relative literal references of a resource (issue #15 §2), as rows of resource_link: what referential
 * integrity checks when a write commits and what a delete asks for referrers (migrations/tenant/020).
 *
 * Every `Reference.reference` of the resource and of its contained resources that reads `Type/id` or
 * `Type/id/_history/n` is a link; absolute URLs (other servers, urn:uuid:), `#id` and identifier-only references are
 * not (http://hl7.org/fhir/R4/references.html#literal). Resources nested in other ways (Bundle.entry.resource,
 * Parameters.parameter.resource) are documents of their own, not references of the server's resources.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import type { Resource } from '../fhir/types.js';

/** One reference: the element's FHIRPath (`Observation.performer[1]`) and the resource it names. */
export interface Link { element: string; targetType: string; targetId: string }

const RELATIVE = /^([A-Z][A-Za-z0-9]*)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function visit(node: Json, path: string, out: Link[], top: boolean): void {
  for (const key in node) {
    const value = node[key];
    if (typeof value !== 'object' || value === null) continue;
    if (key === 'contained' && !top) continue;
    const many = Array.isArray(value);
    const items = many ? value : [value];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (!isObject(item)) continue;
      const at = `${path}.${key}${many ? `[${i}]` : ''}`;
      if (typeof item.resourceType === 'string') {
        if (key === 'contained' && top) visit(item, at, out, false);
        continue;
      }
      if (typeof item.reference === 'string') {
        const m = RELATIVE.exec(item.reference);
        if (m) out.push({ element: at, targetType: m[1]!, targetId: m[2]! });
      }
      visit(item, at, out, false);
    }
  }
}

export function extractLinks(resource: Resource): Link[] {
  const out: Link[] = [];
  visit(resource as unknown as Json, resource.resourceType, out, true);
  return out;
}

/** The recordset columns of linksDocument's rows. */
export const LINK_COLUMNS = 'e text, t text, i text';

/** Links as they travel to jsonb_to_recordset (short keys: a Bundle of 1,000 resources has thousands). */
export const linksDocument = (links: Link[]): object[] => links.map((l) => ({ e: l.element, t: l.targetType, i: l.targetId }));

/**
 * Turns the referential-integrity triggers off for the rest of `tx` (reindex rebuilding what exists, import writing
 * resources before the ones they name, erasure and retention removing what others may still name).
 */
export async function withoutReferenceChecks(tx: Queryable): Promise<void> {
  await tx.query(sql`SELECT set_config('hearth.reference_checks', 'off', true)`);
}

/** Whether the tenant checks references (auth_setting.referential_integrity, migrations/tenant/020). */
export async function referentialIntegrity(db: Queryable, schema: string): Promise<boolean> {
  const [row] = await db.query<{ on: boolean }>(sql`SELECT referential_integrity AS on FROM ${ident(schema)}.auth_setting LIMIT 1`);
  return row?.on ?? true;
}

export async function setReferentialIntegrity(db: Queryable, schema: string, on: boolean): Promise<void> {
  await db.query(sql`UPDATE ${ident(schema)}.auth_setting SET referential_integrity = ${on}`);
}

/** A live resource's reference to a resource the tenant does not hold. */
export interface Dangling { type: string; id: string; element: string; target: string }

/** Up to `limit` dangling references of live resources written at or after `since` (what an import leaves). */
export async function danglingLinks(db: Queryable, schema: string, since: Date, limit: number): Promise<Dangling[]> {
  const s = ident(schema);
  return db.query<Dangling>(sql`SELECT r.type, r.id, l.element, l.target_type || '/' || l.target_id AS target
    FROM ${s}.resource r JOIN ${s}.resource_link l ON l.rid = r.rid
    WHERE r.last_updated >= ${since} AND NOT r.deleted AND NOT EXISTS (SELECT 1 FROM ${s}.resource t
      WHERE t.type = l.target_type AND t.id = l.target_id AND NOT t.deleted)
    ORDER BY r.rid, l.element LIMIT ${limit}`);
}

/**
 * Live resources that refer to (type, id), oldest first (what `_cascade=delete` deletes with it).
 */
export async function referrersOf(db: Queryable, schema: string, type: string, id: string, limit: number): Promise<{ type: string; id: string }[]> {
  const s = ident(schema);
  return db.query<{ type: string; id: string }>(sql`SELECT DISTINCT s.rid, s.type, s.id FROM ${s}.resource_link l
    JOIN ${s}.resource s ON s.rid = l.rid AND NOT s.deleted
    WHERE l.target_type = ${type} AND l.target_id = ${id} AND NOT (s.type = ${type} AND s.id = ${id})
    ORDER BY s.rid LIMIT ${limit}`);
}
