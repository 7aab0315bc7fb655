/**
 * $validate: checks a resource as a write would, without writing — http://hl7.org/fhir/R4/resource-operation-validate.html
 * (issue #15 §5). Always 200 with an OperationOutcome listing every issue (the spec: a 4xx means the validation itself
 * could not be done), audited as a read.
 */
import { FhirError, type Issue, badRequest, methodNotAllowed } from '../errors.js';
import { informational, toOutcome } from '../fhir/outcome.js';
import type { Resource } from '../fhir/types.js';
import { type FhirRequest, type FhirResult, param } from '../fhir/request.js';
import type { Context, Deps } from '../interactions/context.js';
import type { OperationTarget } from '../interactions/operations.js';
import { claimedProfiles, profileValidator } from '../interactions/profiles.js';
import { read } from '../interactions/read.js';
import { requiredProfiles } from '../storage/canonical.js';
import { referentialIntegrity, referrersOf } from '../storage/links.js';
import { coreBindingWarnings } from '../validation/core-bindings.js';
import { checkInvoiceTotals } from '../validation/invoice.js';

const MODES = ['create', 'update', 'delete'] as const;
type Mode = (typeof MODES)[number];

interface Input { resource?: unknown; mode?: Mode; profile?: string }

interface Parameter { name?: string; resource?: unknown; valueCode?: string; valueString?: string; valueUri?: string; valueCanonical?: string }

function modeOf(value: string | undefined): Mode | undefined {
  if (value === undefined) return undefined;
  if (!(MODES as readonly string[]).includes(value)) throw badRequest(`mode must be create, update or delete, not '${value}'`);
  return value as Mode;
}

/** The resource, mode and profile: from a Parameters body (resource, mode, profile), a bare resource, or the URL. */
function inputOf(req: FhirRequest, type: string): Input {
  const body = req.body as (Resource & { parameter?: Parameter[] }) | undefined;
  const fromUrl = { mode: modeOf(param(req.query, 'mode')), profile: param(req.query, 'profile') };
  if (body === undefined || body === null || (typeof body === 'string' && body === '')) return fromUrl;
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a resource or a Parameters resource');
  const parameters = body.resourceType === 'Parameters' && Array.isArray(body.parameter)
    && (type !== 'Parameters' || body.parameter.some((p) => p?.name === 'resource')) ? body.parameter : undefined;
  if (!parameters) return { ...fromUrl, resource: body };
  const named = (name: string) => parameters.filter((p) => p?.name === name);
  if (named('resource').length > 1) throw badRequest('$validate takes one resource');
  const mode = named('mode')[0];
  const profile = named('profile')[0];
  return {
    resource: named('resource')[0]?.resource,
    mode: modeOf(mode ? mode.valueCode ?? mode.valueString : fromUrl.mode),
    profile: profile ? profile.valueUri ?? profile.valueCanonical ?? profile.valueString : fromUrl.profile,
  };
}

const error = (code: Issue['code'], diagnostics: string, expression?: string): Issue =>
  ({ severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) });

/** What the write of `mode` would refuse in the resource, besides the R4 rules. */
function modeIssues(resource: Record<string, unknown>, mode: Mode | undefined, id: string | undefined): Issue[] {
  const type = String(resource.resourceType);
  if (mode === 'update' && resource.id === undefined) return [error('required', 'An update needs the resource id', `${type}.id`)];
  if (id !== undefined && resource.id !== undefined && resource.id !== id && mode !== 'create') {
    return [error('invalid', `The resource id '${String(resource.id)}' does not match the URL id '${id}'`, `${type}.id`)];
  }
  return [];
}

/** What the server's content rules (Invoice totals) would refuse. */
function ruleIssues(resource: Resource): Issue[] {
  try {
    checkInvoiceTotals(resource);
    return [];
  } catch (e) {
    if (e instanceof FhirError) return e.issues;
    throw e;
  }
}

/** mode=delete: the referrers a delete would be refused for (issue #15 §2), as the delete's 409 names them. */
async function deletionOutcome(deps: Deps, ctx: Context, type: string, id: string): Promise<Resource> {
  const schema = ctx.tenant.schema;
  const referrers = await referentialIntegrity(deps.db, schema) ? await referrersOf(deps.db, schema, type, id, 11) : [];
  if (referrers.length === 0) return informational(`${type}/${id} can be deleted`);
  const named = referrers.slice(0, 10).map((r) => `${r.type}/${r.id}`).join(', ') + (referrers.length > 10 ? ' and more' : '');
  return toOutcome([error('conflict', `${type}/${id} cannot be deleted: other resources refer to it: ${named} (_cascade=delete deletes them too)`)]);
}

export async function validateOperation(deps: Deps, ctx: Context, req: FhirRequest, t: OperationTarget): Promise<FhirResult> {
  if (req.method !== 'GET' && req.method !== 'POST') throw methodNotAllowed('$validate is invoked with GET or POST');
  const type = t.type!;
  const input = inputOf(req, type);
  if (input.mode === 'delete' || (input.resource === undefined && t.id)) {
    if (!t.id) throw badRequest('mode=delete validates the deletion of an instance: [type]/[id]/$validate');
    // The instance must exist and be readable; 404/410 otherwise (the validation cannot be done).
    const current = await read(deps, ctx, { ...req, headers: {} }, type, t.id);
    if (input.mode === 'delete') return { status: 200, body: await deletionOutcome(deps, ctx, type, t.id) };
    input.resource = current.body;
  }
  if (input.resource === undefined) throw badRequest(`A ${type} resource to validate is required (in the body, or as the resource parameter)`);
  const issues: Issue[] = [];
  const resource = input.resource as Record<string, unknown>;
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    issues.push(error('structure', 'A resource must be a JSON object'));
  } else if (resource.resourceType !== type) {
    issues.push(error('invalid', `The resource's type '${String(resource.resourceType)}' is not ${type}`, 'resourceType'));
  } else {
    issues.push(...deps.validator.validate(resource));
    if (issues.length === 0) {
      issues.push(...deps.validator.invariants(resource, true), ...modeIssues(resource, input.mode, t.id), ...ruleIssues(resource as Resource));
    }
  }
  const core = `http://hl7.org/fhir/StructureDefinition/${type}`;
  const profiles = issues.some((i) => i.severity === 'error') || typeof resource !== 'object' || resource === null ? []
    : [...new Set([...claimedProfiles(resource, deps.defs), ...(await requiredProfiles(ctx.tx ?? deps.db, ctx.tenant.schema))[type] ?? []])];
  const asked = input.profile !== undefined && input.profile.split('|')[0] !== core ? input.profile : undefined;
  if (asked !== undefined || profiles.length > 0) {
    const v = profileValidator(deps.defs, ctx.tx ?? deps.db, ctx.tenant.schema);
    if (asked !== undefined && !(await v.profile(asked))) {
      issues.push(error('not-supported', `The profile ${asked} is not known to this server`));
    } else if (asked !== undefined && typeof resource === 'object' && resource !== null) {
      issues.push(...await v.validate(resource, asked, { warnings: true }));
    }
    for (const url of profiles.filter((u) => u !== asked)) issues.push(...await v.validate(resource, url, { warnings: true }));
  }
  if (!issues.some((i) => i.severity === 'error') && typeof resource === 'object' && resource !== null && resource.resourceType === type) {
    // The core definitions' extensible and preferred bindings: warnings only (issue #15 §1).
    issues.push(...await coreBindingWarnings(resource, deps.defs, profileValidator(deps.defs, ctx.tx ?? deps.db, ctx.tenant.schema).tx));
  }
  return { status: 200, body: issues.length > 0 ? toOutcome(issues) : informational('No issues found') };
}
