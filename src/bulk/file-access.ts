/**
 * Who may download an export's file — http://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-request
 * (bulk-data.md §1.5–§1.6, §7.1): the client that kicked the export off (ownExport), and only with a token whose scopes
 * still cover what the file holds. A later, narrower token of the same client gets 403, not the data its kick-off
 * token was allowed (issue #22 §1).
 */
import { insufficientScope } from '../errors.js';
import { Access, type Principal } from '../auth/access.js';
import type { Deps } from '../interactions/context.js';
import type { Tenant } from '../storage/tenants.js';
import { jobAccess } from './plan.js';
import type { ExportFile, ExportParams } from './types.js';

/** The resource types whose data a file carries: its own type, every exported type for deletions, none for errors. */
function typesIn(file: ExportFile, params: ExportParams): string[] {
  if (file.kind === 'output') return [file.type];
  return file.kind === 'deleted' ? params.types : [];
}

/**
 * 403 unless the presented token may search every type the file carries, as broadly as the kick-off token could: its
 * narrowing of the type is none at all, or the very one the job ran under (a narrower constraint would be bypassed).
 */
export async function checkFileScopes(deps: Deps, tenant: Tenant, base: string, principal: Principal, params: ExportParams,
  file: ExportFile): Promise<void> {
  const types = typesIn(file, params);
  if (types.length === 0) return;
  const registry = await deps.tenantSearch.registryFor(deps.db, tenant.schema);
  const presented = new Access(principal, tenant.schema, registry, deps.defs, base);
  const kickoff = jobAccess(deps, tenant, registry, params);
  for (const type of types) {
    // The scopes only: the patients' Consents were applied when the job wrote the file.
    presented.required(type, 's');
    const now = presented.narrowing(type, 's', false);
    if (now !== null && JSON.stringify(now) !== JSON.stringify(kickoff.narrowing(type, 's', false))) {
      throw insufficientScope(`system/${type}.rs`);
    }
  }
}
