/** The table of interactions: routes a FhirRequest to its handler; the CapabilityStatement is derived from it. */
import { methodNotAllowed } from '../errors.js';
import { capabilities } from './capabilities.js';
import { conditionalDelete, conditionalPatch, conditionalUpdate } from './conditional.js';
import type { Context, Deps, Dispatch } from './context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import { create } from './create.js';
import { deleteResource } from './delete.js';
import { history } from './history.js';
import { patch } from './patch.js';
import { read } from './read.js';
import { search } from './search.js';
import { compartmentSearch } from './compartment.js';
import { type InteractionCode, type Route, route } from '../fhir/route.js';
import { update } from './update.js';
import { vread } from './vread.js';
import { batch } from './batch.js';
import { checkRoute } from '../auth/enforce.js';
import { Trail } from '../audit/trail.js';
import { auditEventInteraction } from './audit-event.js';

type Handler = (deps: Deps, ctx: Context, req: FhirRequest, r: Route, dispatch: Dispatch) => Promise<FhirResult>;

/** Every interaction this server implements. Absent codes answer 405 and are not advertised. */
export const HANDLERS: Partial<Record<InteractionCode, Handler>> = {
  read: (deps, ctx, req, r) => read(deps, ctx, req, r.type!, r.id!),
  vread: (deps, ctx, _req, r) => vread(deps, ctx, r.type!, r.id!, r.vid!),
  create: (deps, ctx, req, r) => create(deps, ctx, req, r.type!, req.assignedId),
  update: (deps, ctx, req, r) => update(deps, ctx, req, r.type!, r.id!),
  patch: (deps, ctx, req, r) => patch(deps, ctx, req, r.type!, r.id!),
  delete: (deps, ctx, req, r) => deleteResource(deps, ctx, req, r.type!, r.id!),
  'conditional-update': (deps, ctx, req, r) => conditionalUpdate(deps, ctx, req, r.type!),
  'conditional-patch': (deps, ctx, req, r) => conditionalPatch(deps, ctx, req, r.type!),
  'conditional-delete': (deps, ctx, req, r) => conditionalDelete(deps, ctx, req, r.type!),
  'history-instance': (deps, ctx, req, r) => history(deps, ctx, req, r.type!, r.id!),
  'history-type': (deps, ctx, req, r) => history(deps, ctx, req, r.type!),
  'history-system': (deps, ctx, req) => history(deps, ctx, req),
  'search-type': (deps, ctx, req, r) => search(deps, ctx, req, r.type!),
  'search-system': (deps, ctx, req) => search(deps, ctx, req),
  'search-compartment': (deps, ctx, req, r) => compartmentSearch(deps, ctx, req, r.type!, r.id!, r.target!),
  operation: (deps, ctx, req, r) => operation(deps, ctx, req, r),
  capabilities: (deps, ctx, req) => capabilities(deps, ctx, req, implemented()),
  batch: (deps, ctx, req, _r, d) => batch(deps, ctx, req, d),
};

/** Operations by name and level (deps.operations, src/operations/table.ts); others answer 404 (not-supported). */
function operation(deps: Deps, ctx: Context, req: FhirRequest, r: Route): Promise<FhirResult> {
  return deps.operations.run(deps, ctx, req, r.operation!, { ...(r.type ? { type: r.type } : {}), ...(r.id ? { id: r.id } : {}) });
}

export const implemented = (): ReadonlySet<InteractionCode> => new Set(Object.keys(HANDLERS) as InteractionCode[]);

async function routeAndRun(deps: Deps, ctx: Context, req: FhirRequest): Promise<FhirResult> {
  const r = route(deps.defs, req);
  if (ctx.trail) ctx.trail.route = r;
  if (r.type === 'AuditEvent' || (r.code === 'search-compartment' && r.target === 'AuditEvent')) {
    return auditEventInteraction(deps, ctx, req, r);
  }
  const handler = HANDLERS[r.code];
  if (!handler) throw methodNotAllowed(`The ${r.code} interaction is not supported`);
  if (ctx.access) checkRoute(ctx.access, r);
  return handler(deps, ctx, req, r, dispatch);
}

/** Every interaction, and every Bundle entry, is audited: success or failure (issue #6 §1). */
export const dispatch: Dispatch = async (deps, ctx, req) => {
  if (!ctx.audit) return routeAndRun(deps, ctx, req);
  const trail = new Trail(deps, ctx, ctx.audit, req, ctx.trail !== undefined);
  let result: FhirResult;
  try {
    result = await routeAndRun(deps, { ...ctx, trail }, req);
  } catch (e) {
    await trail.failed(e);
    throw e;
  }
  await trail.succeeded(result);
  return result;
};
