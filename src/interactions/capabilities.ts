/** FHIR capabilities: a CapabilityStatement derived from the registries and the interaction table — http.html#capabilities */
import { TOPICS } from '../subscriptions/topics.js';
import crypto from 'node:crypto';
import { terminologyCapabilitiesNotProvided } from '../errors.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from './context.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { InteractionCode } from '../fhir/route.js';
import { param } from '../fhir/request.js';
import { SOFTWARE } from '../version.js';
import { COMPARTMENTS, type SearchCapability, searchCapabilities, systemSearchParams } from '../search/capability.js';
import { smartEndpoints } from '../auth/tokens.js';
import { AUDIT_SEARCH_PARAMS } from '../audit/search.js';
import { tenantProfiles } from '../storage/canonical.js';
import { referentialIntegrity } from '../storage/links.js';

const TYPE_LEVEL: InteractionCode[] = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type',
  'create', 'search-type'];
const SYSTEM_LEVEL: InteractionCode[] = ['transaction', 'batch', 'search-system', 'history-system'];

const DOCUMENTATION = [
  'Hearth FHIR R4 server. JSON only (XML is answered with 406/415).',
  'Transactions are atomic: one PostgreSQL transaction; any failing entry rolls back all and the answer is one OperationOutcome.',
  'Versions are integers per resource starting at 1; every change, including delete, makes a new version.',
  'Delete answers 204 even when the resource is absent or already deleted.',
  'Paging links are opaque and signed; a tampered or expired link answers 410.',
  'Search: unknown parameters are ignored (and reported in an outcome entry) unless Prefer: handling=strict. Token codes and identifier values match case-insensitively, except id elements. Paging is keyset-based. Bundle.total is exact unless counting exceeds its time budget.',
  'Conditional criteria accept any search parameter; result parameters (_include, _sort, ...) are refused with 400.',
  'Bulk Data $export (Bulk Data Access IG v2): a kick-off without Accept is processed as if Accept: application/fhir+json, '
    + 'and one without Prefer as if Prefer: respond-async (export.html#headers lets the server choose). _since in the future '
    + 'is refused with 400. At Patient and Group level, a _type a Patient-level export does not contain (outside the Patient '
    + 'compartment and the referenced Practitioner, Organization, Location and Medication) named beside types it does contain, '
    + 'and includeAssociatedData values (none is supported), are ignored with a warning OperationOutcome in the manifest\'s '
    + 'error files, or refused with 400 under Prefer: handling=strict. Other unsupported parameters are refused with 400 '
    + 'unless Prefer: handling=lenient.',
].join('\n\n');

/**
 * How an operation is listed: the Bulk Data IG's own CapabilityStatement names its operations by their
 * OperationDefinition ids (export, patient-export, group-export), and clients look for those names (issue #22 §4);
 * they are still invoked as $export.
 */
const BULK_DATA_DEFINITIONS = 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/';
const listed = (o: { name: string; definition: string }) => ({
  name: o.definition.startsWith(BULK_DATA_DEFINITIONS) ? o.definition.slice(BULK_DATA_DEFINITIONS.length) : o.name,
  definition: o.definition,
});

/** AuditEvent is append-only and searched over its own table (src/interactions/audit-event.ts, issue #6). */
function auditEventEntry(deps: Deps, search?: SearchCapability) {
  const supported = new Set(AUDIT_SEARCH_PARAMS);
  return {
    type: 'AuditEvent',
    profile: 'http://hl7.org/fhir/StructureDefinition/AuditEvent',
    documentation: 'Written by the server for every interaction; append-only (update, patch and delete answer 405). ' +
      'Reading needs an AuditEvent scope of its own; clients may create (client-reported) events only with system/AuditEvent.client-reported.',
    interaction: (['read', 'vread', 'create', 'search-type'] as const).map((code) => ({ code })),
    versioning: 'no-version',
    readHistory: false,
    updateCreate: false,
    conditionalCreate: false,
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    searchParam: (search?.searchParam ?? []).filter((p) => supported.has(p.name)),
    operation: deps.operations.forType('AuditEvent').filter((o) => o.types !== '*' && o.instance !== '*').map((o) => ({ name: o.name, definition: o.definition })),
  };
}

function resourceEntry(deps: Deps, type: string, codes: ReadonlySet<InteractionCode>, enforced: boolean, search?: SearchCapability,
  profiles?: string[]) {
  if (type === 'AuditEvent') return auditEventEntry(deps, search);
  return {
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    // The tenant's own profiles of the type (issue #15 §7), enforced on resources that claim them.
    ...(profiles?.length ? { supportedProfile: profiles } : {}),
    interaction: TYPE_LEVEL.filter((c) => codes.has(c)).map((code) => ({ code })),
    versioning: 'versioned',
    readHistory: true,
    updateCreate: deps.config.updateCreate,
    conditionalCreate: true,
    conditionalRead: 'full-support',
    conditionalUpdate: codes.has('conditional-update'),
    conditionalDelete: codes.has('conditional-delete') ? 'single' : 'not-supported',
    // `enforced`: referential integrity is checked on write (issue #15 §2) unless the tenant relaxed it.
    referencePolicy: enforced ? ['literal', 'logical', 'enforced'] : ['literal', 'logical'],
    ...(codes.has('search-type') && search ? search : {}),
    ...(codes.has('operation') && deps.operations.forType(type).length > 0
      ? { operation: deps.operations.forType(type).map(listed) } : {}),
    ...(type === 'Subscription' ? subscriptionSupport() : {}),
  };
}

/** The topics Hearth publishes (Subscriptions R5 Backport IG) and what its Subscriptions support (issue #20 §5). */
function subscriptionSupport() {
  return {
    extension: TOPICS.map((t) => ({ url: TOPIC_CANONICAL, valueCanonical: t.url })),
    documentation: 'R4 Subscriptions (criteria = a search on one type) and topic-based Subscriptions of the R5 Backport IG; '
      + 'channel rest-hook or websocket ([base]/websocket); payload empty, id-only or full-resource; durable, at-least-once delivery in order per subscription; '
      + 'notifications limited to what the Subscription\'s author may read when they are sent.',
  };
}

/**
 * rest.security: SMART on FHIR, with the deprecated oauth-uris extension older clients still read
 * (capability-statement.md §3.2–3.5); its URLs are the ones .well-known/smart-configuration publishes.
 */
/** `cors`: whether browser scripts of other origins may call the API (HEARTH_CORS_ORIGINS; issue #16 §5). */
function security(base: string, cors: boolean) {
  const e = smartEndpoints(base);
  return {
    cors,
    service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR',
      display: 'SMART-on-FHIR' }], text: 'OAuth2 using SMART-on-FHIR profile' }],
    description: `OAuth2 / SMART App Launch 2.x. Discovery: ${base}/.well-known/smart-configuration`,
    extension: [{
      url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
      extension: [
        { url: 'authorize', valueUri: e.authorization_endpoint },
        { url: 'token', valueUri: e.token_endpoint },
        { url: 'introspect', valueUri: e.introspection_endpoint },
        { url: 'revoke', valueUri: e.revocation_endpoint },
      ],
    }],
  };
}

const TOPIC_CANONICAL = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical';

export function buildCapabilityStatement(deps: Deps, ctx: Context, codes: ReadonlySet<InteractionCode>, enforced = true,
  profiles: ReadonlyMap<string, string[]> = new Map()): Resource {
  const systemCodes = new Set<string>(codes);
  const types = [...deps.defs.resourceTypes].sort();
  const search = codes.has('search-type') ? searchCapabilities(ctx.search, types) : new Map<string, SearchCapability>();
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
    ...(codes.has('operation') && deps.operations.all.some((o) => o.instantiates)
      ? { instantiates: [...new Set(deps.operations.all.flatMap((o) => o.instantiates ?? []))] } : {}),
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    rest: [{
      mode: 'server',
      documentation: DOCUMENTATION,
      security: security(ctx.base, deps.config.corsOrigins.length > 0),
      // Where Subscriptions with a websocket channel bind (R4 subscription.html#2.46.7.2).
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: `${ctx.base.replace(/^http/, 'ws')}/websocket` }],
      resource: types.map((t) => resourceEntry(deps, t, codes, enforced, search.get(t), profiles.get(t))),
      interaction: SYSTEM_LEVEL.filter((c) => systemCodes.has(c)).map((code) => ({ code })),
      ...(codes.has('search-system') ? { searchParam: systemSearchParams(ctx.search, types[0]!) } : {}),
      ...(codes.has('search-compartment') ? { compartment: COMPARTMENTS } : {}),
      ...(codes.has('operation')
        ? { operation: deps.operations.all.filter((o) => o.system).map(listed) } : {}),
    }],
  };
}

export async function capabilities(deps: Deps, ctx: Context, req: FhirRequest, codes: ReadonlySet<InteractionCode>): Promise<FhirResult> {
  const mode = param(req.query, 'mode');
  if (mode === 'terminology') throw terminologyCapabilitiesNotProvided();
  const enforced = await referentialIntegrity(deps.db, ctx.tenant.schema);
  const profiles = await tenantProfiles(deps.db, ctx.tenant.schema);
  const profileKey = [...profiles.values()].flat().join(' ');
  const built = cached(ctx.search, `${ctx.base} ${[...codes].sort().join(',')} ${enforced} ${profileKey}`, () => {
    const body = buildCapabilityStatement(deps, ctx, codes, enforced, profiles);
    const json = JSON.stringify(body);
    return { body, json, etag: `W/"${crypto.createHash('sha256').update(json).digest('base64url').slice(0, 16)}"` };
  });
  return { status: 200, body: built.body, json: built.json, etag: built.etag };
}

/**
 * Statements by tenant registry (a new registry when the tenant's SearchParameters change) and base: /metadata is
 * public, so it must not rebuild and hash the whole statement on every request.
 */
interface Built { body: Resource; json: string; etag: string }
const STATEMENTS = new WeakMap<object, Map<string, Built>>();

function cached(registry: object, key: string, build: () => Built): Built {
  let byKey = STATEMENTS.get(registry);
  if (!byKey) STATEMENTS.set(registry, byKey = new Map());
  let hit = byKey.get(key);
  if (!hit) {
    if (byKey.size >= 64) byKey.clear(); // tenants × bases (from Host headers when HEARTH_BASE_URL is unset)
    byKey.set(key, hit = build());
  }
  return hit;
}
