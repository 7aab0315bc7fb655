/** FHIR vread — https://hl7.org/fhir/R4/http.html#vread */
import { gone, versionNotFound } from '../errors.js';
import { readVersion } from '../storage/resources.js';
import type { Context, Deps } from './context.js';
import type { FhirResult } from '../fhir/request.js';
import { checkVisible, versionResult } from './read.js';

export async function vread(deps: Deps, ctx: Context, type: string, id: string, vid: string): Promise<FhirResult> {
  await checkVisible(deps, ctx, type, id);
  const n = Number(vid);
  const v = Number.isSafeInteger(n) && n > 0 && String(n) === vid
    ? await readVersion(ctx.tx ?? deps.db, ctx.tenant.schema, type, id, n)
    : undefined;
  if (!v) throw versionNotFound(type, id, vid);
  if (v.deleted) throw gone(type, id);
  return versionResult(ctx, v);
}
