/** FHIR batch (and the POST [base] entry point for transaction) — https://hl7.org/fhir/R4/http.html#transaction */
import { returnPreference } from '../fhir/request.js';
import { toFhirError } from '../db/errors.js';
import { nestedBundle } from '../errors.js';
import { bundle } from '../fhir/bundle.js';
import type { BundleEntry } from '../fhir/types.js';
import { bundleDeadline, checkBundle, entryRequest, errorEntry, patchBody, responseEntry } from './bundle-entry.js';
import type { Context, Deps } from './context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { Dispatch } from './context.js';
import { transaction } from './transaction.js';

/**
 * Each entry independently; failures become entries with an outcome, and the batch still answers 200. Entries left
 * when the statement timeout has passed answer 503 `timeout` unprocessed.
 */
async function runBatch(deps: Deps, ctx: Context, entries: BundleEntry[], prefer: string | undefined, dispatch: Dispatch) {
  const ret = returnPreference(prefer);
  const out: BundleEntry[] = [];
  const checkDeadline = bundleDeadline(deps.config.statementTimeoutMs, 'batch');
  for (const [i, entry] of entries.entries()) {
    try {
      checkDeadline(i);
      const req: FhirRequest = patchBody(entryRequest(ctx, entry, i, prefer));
      if (req.path === '' && req.method === 'POST') throw nestedBundle('batch');
      out.push(responseEntry(await dispatch(deps, ctx, req), ret));
    } catch (e) {
      const fhir = toFhirError(e);
      if (!fhir) throw e;
      out.push(errorEntry(fhir));
    }
  }
  return out;
}

export async function batch(deps: Deps, ctx: Context, req: FhirRequest, dispatch: Dispatch): Promise<FhirResult> {
  const b = checkBundle(req.body);
  const entries = b.entry ?? [];
  if (b.type === 'transaction') return transaction(deps, ctx, entries, req.headers.prefer, dispatch);
  const out = await runBatch(deps, ctx, entries, req.headers.prefer, dispatch);
  return { status: 200, body: bundle('batch-response', out, { self: ctx.base }) };
}
