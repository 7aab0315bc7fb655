/** Orders to results (issue #18 §4). */
import type { WriteHook } from '../storage/write.js';
import type { AllHooks } from './amend.js';

export function ordersHook(_all: AllHooks): WriteHook {
  return async () => {};
}
