/**
 * The patient journey's rules (issue #18), as write hooks: they run inside every write transaction — create, update,
 * patch, delete, batch and transaction entries, $import — after the search indexes, so a refusal rolls the whole
 * write back and a follow-on change (a Slot's status, an order's) commits with it. A rule reads nothing for the types
 * it does not own: writes of other types keep their group commit (db/group-commit.ts).
 */
import type { WriteHook } from '../storage/write.js';
import type { AllHooks } from './amend.js';
import { billingHook } from './billing.js';
import { ordersHook } from './orders.js';
import { schedulingHook } from './scheduling.js';

export function workflowHooks(all: AllHooks): WriteHook[] {
  return [schedulingHook(all), ordersHook(all), billingHook(all)];
}
