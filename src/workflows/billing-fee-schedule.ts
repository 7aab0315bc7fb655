/**
 * The tenant's fee schedule (issue #18 §5): the price of a code is the base price component of the active
 * ChargeItemDefinition whose `code` carries that code (same system, same code — CPT, ICD, DRG or a local code alike),
 * effective on the date of service — http://hl7.org/fhir/R4/chargeitemdefinition.html
 *
 * Applicability conditions (FHIRPath expressions) are not evaluated: a property group with conditions is used only when
 * no group without conditions has a base price. Among several matching definitions the one that took effect last wins,
 * then the one written last.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import { parseDateRange } from '../fhir/datetime.js';
import type { Coding, Resource } from '../fhir/types.js';

export interface Money { value?: number; currency?: string }
export interface CodeableConcept { coding?: Coding[]; text?: string }

/** A code's price in the fee schedule. */
export interface Fee {
  /** The base price of one unit. */
  amount: Money & { value: number };
  /** 'ChargeItemDefinition/id' */
  definition: string;
  /** The definition's url|version, or url; undefined when it has no url. */
  canonical?: string;
}

interface PriceComponent { type?: string; amount?: Money }
interface PropertyGroup { applicability?: unknown[]; priceComponent?: PriceComponent[] }
interface Period { start?: string; end?: string }

/** Exact for money, where binary fractions drift (0.1 × 3): millionths. */
export const toUnits = (value: number): number => Math.round(value * 1e6);
export const fromUnits = (units: number): number => units / 1e6;

/** The first base price with an amount: from a group without applicability conditions if there is one. */
function basePrice(definition: Resource): (Money & { value: number }) | undefined {
  const groups = (definition.propertyGroup ?? []) as PropertyGroup[];
  const ordered = [...groups.filter((g) => !g.applicability?.length), ...groups.filter((g) => g.applicability?.length)];
  for (const g of ordered) {
    const base = g.priceComponent?.find((c) => c.type === 'base' && typeof c.amount?.value === 'number');
    if (base) return base.amount as Money & { value: number };
  }
  return undefined;
}

/** True when the period holds the instant (a missing side is open; an end date includes its whole day). */
export function periodCovers(period: Period | undefined, at: Date): boolean {
  try {
    if (period?.start && at < parseDateRange(period.start, 'start').lo) return false;
    if (period?.end && at >= parseDateRange(period.end, 'end').hi) return false;
    return true;
  } catch {
    return false;
  }
}

const sameCoding = (a: Coding, b: Coding) => a.code === b.code && (a.system ?? '') === (b.system ?? '');

/**
 * The active definitions with one of these codes. R4 defines no `code` search parameter on ChargeItemDefinition, so
 * this reads the tenant's active ChargeItemDefinitions (by the status index) and compares codes on their content
 * (bodies may be encrypted: db/vault.ts); the system is compared by the caller.
 */
async function definitionsWithCode(tx: Queryable, schema: string, codes: string[]) {
  const s = ident(schema);
  const rows = await tx.query<{ id: string; content: Resource }>(sql`SELECT r.type, r.id, r.version, ${sealedColumns(schema, 'r')}
    FROM ${s}.resource r WHERE r.type = 'ChargeItemDefinition' AND NOT r.deleted
      AND EXISTS (SELECT 1 FROM ${s}.idx_token t WHERE t.rid = r.rid AND t.type = 'ChargeItemDefinition' AND t.param = 'status'
        AND t.code = 'active')
    ORDER BY r.last_updated DESC, r.rid DESC`);
  const wanted = new Set(codes);
  return rows.filter((r) => r.content.status === 'active' && ((r.content.code as { coding?: unknown } | undefined)?.coding instanceof Array)
    && ((r.content.code as { coding: { code?: unknown }[] }).coding).some((c) => typeof c?.code === 'string' && wanted.has(c.code)));
}

/** The fee of a coded service on date `at`, or undefined when the fee schedule has no active price for it. */
export async function findFee(tx: Queryable, schema: string, code: CodeableConcept | undefined, at: Date): Promise<Fee | undefined> {
  const codings = (code?.coding ?? []).filter((c): c is Coding & { code: string } => typeof c.code === 'string');
  if (codings.length === 0) return undefined;
  const found = (await definitionsWithCode(tx, schema, [...new Set(codings.map((c) => c.code))]))
    .filter((r) => ((r.content.code as CodeableConcept | undefined)?.coding ?? []).some((d) => codings.some((c) => sameCoding(c, d))))
    .filter((r) => periodCovers(r.content.effectivePeriod as Period | undefined, at))
    .map((r) => ({ r, amount: basePrice(r.content), start: (r.content.effectivePeriod as Period | undefined)?.start }))
    .filter((f) => f.amount !== undefined);
  // Stable sort: the latest effective start first; rows already come newest-written first.
  found.sort((a, b) => effectiveFrom(b.start) - effectiveFrom(a.start));
  const best = found[0];
  if (!best) return undefined;
  const { url, version } = best.r.content as { url?: string; version?: string };
  return { amount: best.amount!, definition: `ChargeItemDefinition/${best.r.id}`,
    ...(url ? { canonical: version ? `${url}|${version}` : url } : {}) };
}

function effectiveFrom(start: string | undefined): number {
  if (!start) return -Infinity;
  try {
    return parseDateRange(start, 'start').lo.getTime();
  } catch {
    return -Infinity;
  }
}
