/**
 * The patient's share of a claim, from Coverage.costToBeneficiary (issue #18 §5) —
 * http://hl7.org/fhir/R4/coverage-definitions.html#Coverage.costToBeneficiary,
 * http://terminology.hl7.org/CodeSystem/coverage-copay-type
 *
 * A fixed amount (valueMoney) is a copay, charged once per claim (one visit) and taken from the items in order until
 * used up; a percentage (valueQuantity in '%', or type `copaypct`) is coinsurance on what remains of each item. An
 * entry without a type, or typed `copay`/`copaypct`, applies to every claim; one typed for a kind of visit (`gpvisit`,
 * `spvisit`, `emergency`, …) applies when the Claim's subType or an item's category carries that code. Deductibles and
 * out-of-pocket maxima need the year's earlier claims and are not applied. The first applicable entry of each kind counts.
 */
import type { Resource } from '../fhir/types.js';
import { type CodeableConcept, type Money, toUnits } from './billing-fee-schedule.js';

interface Cost { type?: CodeableConcept; valueQuantity?: { value?: number; unit?: string; code?: string }; valueMoney?: Money }

export interface CostShare {
  /** The insurer's percentage of an item's eligible amount after the copay, when coinsurance applies. */
  insurerPercent?: number;
  /** The patient's part of an item's eligible amount (in millionths): what is left of the copay, then coinsurance. */
  take(eligible: number): { copay: number; coinsurance: number };
}

const GENERAL = new Set(['copay', 'copaypct']);
const NOT_APPLIED = new Set(['deductible', 'maxoutofpocket']);

const codesOf = (c: CodeableConcept | undefined) => (c?.coding ?? []).map((x) => x.code).filter((x): x is string => !!x);

function applies(cost: Cost, visitCodes: Set<string>): boolean {
  const codes = codesOf(cost.type);
  if (codes.length === 0) return true;
  if (codes.some((c) => NOT_APPLIED.has(c))) return false;
  return codes.some((c) => GENERAL.has(c) || visitCodes.has(c));
}

const isPercent = (cost: Cost) => cost.valueQuantity !== undefined
  && (cost.valueQuantity.code === '%' || cost.valueQuantity.unit === '%' || codesOf(cost.type).includes('copaypct'));

export function costShareOf(coverage: Resource | undefined, claim: Resource): CostShare {
  const items = (claim.item ?? []) as { category?: CodeableConcept }[];
  const visitCodes = new Set([...codesOf(claim.subType as CodeableConcept | undefined), ...items.flatMap((i) => codesOf(i.category))]);
  const costs = ((coverage?.costToBeneficiary ?? []) as Cost[]).filter((c) => applies(c, visitCodes));
  const copay = costs.find((c) => typeof c.valueMoney?.value === 'number')?.valueMoney?.value;
  const percent = costs.find((c) => isPercent(c) && typeof c.valueQuantity?.value === 'number')?.valueQuantity?.value;
  const coinsurance = percent === undefined ? 0 : Math.min(Math.max(percent, 0), 100);
  let copayLeft = copay === undefined ? 0 : Math.max(toUnits(copay), 0);
  return {
    ...(percent !== undefined ? { insurerPercent: 100 - coinsurance } : {}),
    take(eligible) {
      const fromCopay = Math.min(copayLeft, eligible);
      copayLeft -= fromCopay;
      return { copay: fromCopay, coinsurance: Math.round((eligible - fromCopay) * coinsurance / 100) };
    },
  };
}
