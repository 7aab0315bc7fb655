/**
 * ChargeItem pricing from the fee schedule (issue #18 §5): a ChargeItem written without `priceOverride` is priced at the
 * base price of its code's active ChargeItemDefinition × `quantity` (× `factorOverride`), and `definitionCanonical`
 * names that definition — http://hl7.org/fhir/R4/chargeitem.html
 *
 * The price is marked with the PRICED_BY extension (naming the definition), so that a later version the client sends
 * back with the server's price — a changed quantity, another code — is priced again, while a price the client set
 * itself (no extension) is left alone. A code without an active definition leaves the ChargeItem unpriced. The price is
 * filled in before the version is stamped (WriteHook.prepare): the stored version, and the create's answer, carry it.
 */
import type { Queryable } from '../db/db.js';
import { parseDateRange } from '../fhir/datetime.js';
import type { Resource } from '../fhir/types.js';
import { type CodeableConcept, type Fee, type Money, findFee, fromUnits, toUnits } from './billing-fee-schedule.js';

export const PRICED_BY = 'http://hearth.dev/fhir/StructureDefinition/priced-from-fee-schedule';

interface Extension { url?: string; valueReference?: { reference?: string } }
type Priced = Money & { extension?: Extension[] };

const serverPriced = (price: Priced | undefined) => price?.extension?.some((e) => e.url === PRICED_BY) ?? false;

/** When the charge was incurred: its occurrence, else when it was entered, else now. */
function chargeDate(item: Resource): Date {
  const period = item.occurrencePeriod as { start?: string; end?: string } | undefined;
  const value = (item.occurrenceDateTime ?? period?.start ?? period?.end ?? item.enteredDate) as string | undefined;
  if (value) {
    try {
      return parseDateRange(value, 'occurrence').lo;
    } catch {
      // The schema accepted it, so it is a valid FHIR dateTime; an unparseable one prices as of now.
    }
  }
  return new Date();
}

/** The item as priced by `fee`, or undefined when that changes nothing. */
function withPrice(item: Resource, fee: Fee | undefined): Resource | undefined {
  const current = item.priceOverride as Priced | undefined;
  if (current && !serverPriced(current)) return undefined;
  const { priceOverride: _p, definitionCanonical: _d, ...rest } = item;
  let next: Resource = rest as Resource;
  if (fee) {
    const quantity = (item.quantity as { value?: number } | undefined)?.value ?? 1;
    const factor = typeof item.factorOverride === 'number' ? item.factorOverride : 1;
    const value = fromUnits(Math.round(toUnits(fee.amount.value) * quantity * factor));
    const price: Priced = { extension: [{ url: PRICED_BY, valueReference: { reference: fee.definition } }], value,
      ...(fee.amount.currency ? { currency: fee.amount.currency } : {}) };
    next = { ...rest, priceOverride: price,
      ...(fee.canonical ? { definitionCanonical: [fee.canonical] } : item.definitionCanonical ? { definitionCanonical: item.definitionCanonical } : {}) };
  } else if (!current) {
    return undefined;
  }
  const same = JSON.stringify(next.priceOverride) === JSON.stringify(item.priceOverride)
    && JSON.stringify(next.definitionCanonical) === JSON.stringify(item.definitionCanonical);
  return same ? undefined : next;
}

/** The ChargeItem as priced from the fee schedule, or undefined when it keeps its content (WriteHook.prepare). */
export async function priceChargeItem(tx: Queryable, schema: string, item: Resource): Promise<Resource | undefined> {
  if (item.status === 'entered-in-error') return undefined;
  const price = item.priceOverride as Priced | undefined;
  if (price && !serverPriced(price)) return undefined;
  const fee = await findFee(tx, schema, item.code as CodeableConcept | undefined, chargeDate(item));
  return withPrice(item, fee);
}
