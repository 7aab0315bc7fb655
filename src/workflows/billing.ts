/** Charges to invoices to claims (issue #18 §5). */
import type { WriteHook } from '../storage/write.js';
import type { AllHooks } from './amend.js';

export function billingHook(_all: AllHooks): WriteHook {
  return async () => {};
}
