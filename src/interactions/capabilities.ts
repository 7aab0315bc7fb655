/** FHIR capabilities: a CapabilityStatement derived from the registries and the interaction table — http.html#capabilities */
import crypto from 'node:crypto';
import { FhirError } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps, FhirRequest, FhirResult } from './context.js';
import type { InteractionCode } from './route.js';
import { param } from './context.js';
import { SOFTWARE } from '../version.js';

const TYPE_LEVEL: InteractionCode[] = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type',
  'create', 'search-type'];
const SYSTEM_LEVEL: InteractionCode[] = ['transaction', 'batch', 'search-system', 'history-system'];

const DOCUMENTATION = [
  'Hearth FHIR R4 server. JSON only (XML is answered with 406/415).',
  'Transactions are atomic: one PostgreSQL transaction; any failing entry rolls back all and the answer is one OperationOutcome.',
  'Versions are integers per resource starting at 1; every change, including delete, makes a new version.',
  'Delete answers 204 even when the resource is absent or already deleted.',
  'Paging links are opaque and signed; a tampered or expired link answers 410.',
  'Conditional criteria currently support _id and identifier.',
].join('\n\n');

function resourceEntry(deps: Deps, type: string, codes: ReadonlySet<InteractionCode>) {
  return {
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: TYPE_LEVEL.filter((c) => codes.has(c)).map((code) => ({ code })),
    versioning: 'versioned',
    readHistory: true,
    updateCreate: deps.config.updateCreate,
    conditionalCreate: true,
    conditionalRead: 'full-support',
    conditionalUpdate: codes.has('conditional-update'),
    conditionalDelete: codes.has('conditional-delete') ? 'single' : 'not-supported',
    referencePolicy: ['literal', 'logical'],
  };
}

export function buildCapabilityStatement(deps: Deps, ctx: Context, codes: ReadonlySet<InteractionCode>): Resource {
  const systemCodes = new Set<string>(codes);
  if (codes.has('batch')) systemCodes.add('transaction');
  return {
    resourceType: 'CapabilityStatement',
    url: `${ctx.base}/metadata`,
    version: SOFTWARE.version,
    name: 'HearthCapabilityStatement',
    title: 'Hearth FHIR R4 server',
    status: 'active',
    date: SOFTWARE.releaseDate,
    publisher: 'Hearth',
    kind: 'instance',
    software: { name: SOFTWARE.name, version: SOFTWARE.version, releaseDate: SOFTWARE.releaseDate },
    implementation: { description: `Hearth tenant '${ctx.tenant.slug}'`, url: ctx.base },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    rest: [{
      mode: 'server',
      documentation: DOCUMENTATION,
      security: { cors: true },
      resource: [...deps.defs.resourceTypes].sort().map((t) => resourceEntry(deps, t, codes)),
      interaction: SYSTEM_LEVEL.filter((c) => systemCodes.has(c)).map((code) => ({ code })),
    }],
  };
}

export async function capabilities(deps: Deps, ctx: Context, req: FhirRequest, codes: ReadonlySet<InteractionCode>): Promise<FhirResult> {
  const mode = param(req.query, 'mode');
  if (mode === 'terminology') throw new FhirError(404, 'not-supported', 'TerminologyCapabilities are not provided');
  const body = buildCapabilityStatement(deps, ctx, codes);
  const hash = crypto.createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 16);
  return { status: 200, body, etag: `W/"${hash}"` };
}
