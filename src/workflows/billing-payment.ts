/**
 * Payments balance invoices (issue #18 §5): when an active PaymentReconciliation names an Invoice in `detail.request`,
 * the Invoice becomes `balanced` once the active payments against it add up to its total (`totalGross`, else
 * `totalNet`) — http://hl7.org/fhir/R4/paymentreconciliation.html, http://hl7.org/fhir/R4/invoice.html
 *
 * A detail's payment is its `amount`; a reconciliation with one detail and no detail amount pays `paymentAmount`.
 * Only `draft` and `issued` invoices are balanced; a payment in another currency than the invoice's total is refused.
 */
import type { Queryable } from '../db/db.js';
import { ident, sql } from '../db/sql.js';
import { sealedColumns } from '../db/vault.js';
import { unprocessable } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import { lockCurrent } from '../storage/resources.js';
import { type AllHooks, amend, localId } from './amend.js';
import { type Money, toUnits } from './billing-fee-schedule.js';

interface Detail { request?: { reference?: string }; amount?: Money }

const PAYABLE = new Set(['draft', 'issued']);

/** The payments a reconciliation makes, each with the Invoice it pays and where it is written. */
function paymentsOf(reconciliation: Resource): { invoice: string; amount: Money; at: string }[] {
  if (reconciliation.status !== 'active') return [];
  const details = (reconciliation.detail ?? []) as Detail[];
  return details.flatMap((d, i) => {
    const invoice = localId(d.request?.reference, 'Invoice');
    const amount = d.amount ?? (details.length === 1 ? reconciliation.paymentAmount as Money | undefined : undefined);
    if (!invoice || typeof amount?.value !== 'number') return [];
    const at = d.amount ? `PaymentReconciliation.detail[${i}].amount` : 'PaymentReconciliation.paymentAmount';
    return [{ invoice, amount, at }];
  });
}

/**
 * The active reconciliations with a detail requesting the Invoice. R4 has no search parameter on `detail.request`, so
 * this reads the tenant's active PaymentReconciliations' content (one pass over that type, in the database).
 */
async function reconciliationsOf(tx: Queryable, schema: string, invoiceId: string): Promise<Resource[]> {
  const ref = `Invoice/${invoiceId}`;
  const s = ident(schema);
  const rows = await tx.query<{ content: Resource }>(sql`SELECT r.type, r.id, r.version, ${sealedColumns(schema, 'r')}
    FROM ${s}.resource r WHERE r.type = 'PaymentReconciliation' AND NOT r.deleted
      AND EXISTS (SELECT 1 FROM ${s}.idx_token t WHERE t.rid = r.rid AND t.type = 'PaymentReconciliation' AND t.param = 'status'
        AND t.code = 'active')`);
  const names = (reference: unknown) => typeof reference === 'string' && (reference === ref || reference.startsWith(`${ref}/_history/`));
  return rows.map((r) => r.content).filter((c) => c.status === 'active' && Array.isArray(c.detail)
    && (c.detail as { request?: { reference?: unknown } }[]).some((d) => names(d?.request?.reference)));
}

const totalOf = (invoice: Resource): Money | undefined => {
  const gross = invoice.totalGross as Money | undefined;
  return typeof gross?.value === 'number' ? gross : invoice.totalNet as Money | undefined;
};

async function settle(tx: Queryable, schema: string, all: AllHooks, invoiceId: string, written: { amount: Money; at: string }[]) {
  // Locked before the payments are added up: two payments committing at once cannot each miss the other.
  const invoice = (await lockCurrent(tx, schema, 'Invoice', invoiceId))?.resource;
  const total = invoice && totalOf(invoice);
  if (!invoice || typeof total?.value !== 'number') return;
  for (const p of written) {
    if (p.amount.currency && total.currency && p.amount.currency !== total.currency) {
      throw unprocessable(`${p.at} is in ${p.amount.currency}, Invoice/${invoiceId}'s total in ${total.currency}`, [`${p.at}.currency`]);
    }
  }
  if (!PAYABLE.has(invoice.status as string)) return;
  let paid = 0;
  for (const r of await reconciliationsOf(tx, schema, invoiceId)) {
    for (const p of paymentsOf(r)) {
      if (p.invoice === invoiceId && (!p.amount.currency || !total.currency || p.amount.currency === total.currency)) paid += toUnits(p.amount.value!);
    }
  }
  if (paid < toUnits(total.value)) return;
  await amend(tx, schema, all, 'Invoice', invoiceId, (current) =>
    PAYABLE.has(current.status as string) ? { ...current, status: 'balanced' } : undefined);
}

export async function balanceInvoices(tx: Queryable, schema: string, all: AllHooks, reconciliation: Resource): Promise<void> {
  const byInvoice = new Map<string, { amount: Money; at: string }[]>();
  for (const p of paymentsOf(reconciliation)) byInvoice.set(p.invoice, [...byInvoice.get(p.invoice) ?? [], p]);
  // In id order, so that two reconciliations of the same invoices lock them in the same order.
  for (const invoiceId of [...byInvoice.keys()].sort()) await settle(tx, schema, all, invoiceId, byInvoice.get(invoiceId)!);
}
