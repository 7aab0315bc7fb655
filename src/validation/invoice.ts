/**
 * Invoice totals (issue #18 §5): the server computes `totalNet` and `totalGross` from the price components when they
 * are absent, and refuses (422, naming the element) totals that disagree with them — http://hl7.org/fhir/R4/invoice.html
 *
 * The components summed are the line items' (`lineItem.priceComponent`), or, when no line item has any, the invoice's
 * own `totalPriceComponent` (R4 leaves open whether those restate the lines or add to them; counting both would count
 * a restatement twice). Net = base + surcharge − deduction − discount (a deduction or discount counts against the
 * total whatever the sign it is written with), gross = net + tax; `informational` components and components without
 * an amount do not count. All amounts and totals must share one currency.
 */
import { unprocessable } from '../errors.js';
import type { Resource } from '../fhir/types.js';

interface Money { value?: number; currency?: string }
interface Component { type?: string; amount?: Money }
interface Invoice extends Resource {
  lineItem?: { priceComponent?: Component[] }[];
  totalPriceComponent?: Component[];
  totalNet?: Money;
  totalGross?: Money;
}

/** Sums in millionths: exact for money (at most 6 decimals here), where binary fractions drift (0.1 + 0.2). */
const SCALE = 1e6;
const units = (value: number) => Math.round(value * SCALE);

function components(invoice: Invoice): { c: Component; at: string }[] {
  const lines = (invoice.lineItem ?? []).flatMap((line, i) =>
    (line.priceComponent ?? []).map((c, j) => ({ c, at: `Invoice.lineItem[${i}].priceComponent[${j}]` })));
  if (lines.length > 0) return lines;
  return (invoice.totalPriceComponent ?? []).map((c, k) => ({ c, at: `Invoice.totalPriceComponent[${k}]` }));
}

/** The invoice with its totals filled in; throws 422 when a given total or a currency disagrees. Other types pass. */
export function checkInvoiceTotals(resource: Resource): Resource {
  if (resource.resourceType !== 'Invoice') return resource;
  const invoice = resource as Invoice;
  const priced = components(invoice).filter(({ c }) => typeof c.amount?.value === 'number' && c.type !== 'informational');
  if (priced.length === 0) return resource;
  let currency: string | undefined;
  const sameCurrency = (given: string | undefined, at: string) => {
    if (given === undefined) return;
    if (currency !== undefined && given !== currency) {
      throw unprocessable(`${at} is in ${given}, the invoice's other amounts in ${currency}`, [at]);
    }
    currency = given;
  };
  let net = 0;
  let tax = 0;
  for (const { c, at } of priced) {
    sameCurrency(c.amount!.currency, `${at}.amount.currency`);
    const amount = units(c.amount!.value!);
    if (c.type === 'tax') tax += amount;
    else if (c.type === 'deduction' || c.type === 'discount') net -= Math.abs(amount);
    else net += amount; // base, surcharge
  }
  const total = (name: 'totalNet' | 'totalGross', sum: number): Money => {
    const given = invoice[name];
    if (given?.value === undefined) return { ...given, value: sum / SCALE, ...(currency ? { currency } : {}) };
    sameCurrency(given.currency, `Invoice.${name}.currency`);
    if (units(given.value) !== sum) {
      throw unprocessable(`Invoice.${name} is ${given.value} but the price components add up to ${sum / SCALE}`
        + (name === 'totalGross' ? ' (net plus tax)' : ' (base + surcharge − deduction − discount)'), [`Invoice.${name}`]);
    }
    return given;
  };
  return { ...invoice, totalNet: total('totalNet', net), totalGross: total('totalGross', net + tax) };
}
