/**
 * Charges to invoices to claims (issue #18 §5), the parts that follow a write: ChargeItems are priced from the fee
 * schedule (billing-charge-item.ts) and payments balance their Invoices (billing-payment.ts). Invoice totals are a
 * content rule (validation/invoice.ts); claims are adjudicated by Claim/$submit (operations/claim-submit.ts).
 */
import type { WriteHook } from '../storage/write.js';
import type { AllHooks } from './amend.js';
import { priceChargeItem } from './billing-charge-item.js';
import { balanceInvoices } from './billing-payment.js';

export function billingHook(all: AllHooks): WriteHook {
  const hook: WriteHook = async (tx, schema, change) => {
    // Only the owned types, and before any query: other writes keep their group commit (workflows/index.ts).
    if (change.type !== 'PaymentReconciliation' || change.replay || !change.resource) return;
    await balanceInvoices(tx, schema, all, change.resource);
  };
  hook.prepare = async (tx, schema, type, resource) => (type === 'ChargeItem' ? priceChargeItem(tx, schema, resource) : undefined);
  return hook;
}
