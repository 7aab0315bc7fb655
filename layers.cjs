/**
 * The layers of src/, written once (issue 13 §4, ARCHITECTURE §1), lowest first: each layer may import itself and
 * the layers it names in `uses`, nothing else. The lint rules (.dependency-cruiser.cjs) are built from this table and
 * the README's Layout section is checked against it (test/arch/layers.test.ts).
 */
const LAYERS = [
  { name: 'core', paths: ['src/fhir/', 'src/errors.ts', 'src/config.ts', 'src/version.ts', 'src/metrics.ts'], uses: [],
    role: 'FHIR types and helpers, the request/result types and routing, the error catalogue, configuration, metrics' },
  { name: 'db', paths: ['src/db/'], uses: ['core'],
    role: 'PostgreSQL and PGlite behind one interface, SQL building, migrations, partition upkeep, encryption at rest (tenant data keys, sealed bodies)' },
  { name: 'terminology', paths: ['src/terminology/'], uses: ['core'],
    role: 'CodeSystem hierarchies, ValueSet expansion and membership, ConceptMap translation; the R4 core content' },
  { name: 'search', paths: ['src/search/'], uses: ['core', 'db', 'terminology'],
    role: 'search parameters: parse → AST → SQL, index extraction, includes, paging' },
  { name: 'storage', paths: ['src/storage/'], uses: ['core', 'db', 'search'],
    role: 'owner of the resource, history, index and reference tables: writes, reads, matches, tenants, referential integrity' },
  { name: 'validation', paths: ['src/validation/'], uses: ['core', 'terminology'],
    role: 'the R4 schema check with required bindings, reference forms and targets, input limits, Invoice totals, tenant profiles' },
  { name: 'jobs', paths: ['src/jobs/'], uses: ['core', 'db', 'storage'],
    role: 'the job queue and worker (leases, progress, cancel), scheduled-run overlap' },
  { name: 'workflows', paths: ['src/workflows/'], uses: ['core', 'db', 'search', 'storage', 'jobs'],
    role: "the patient journey's rules as write hooks: booking without double-booking, slots from working patterns, orders to results, billing" },
  { name: 'auth', paths: ['src/auth/'], uses: ['core', 'db', 'search', 'storage'],
    role: 'per-request enforcement: bearer tokens, scopes, access narrowing, signing keys' },
  { name: 'audit', paths: ['src/audit/'], uses: ['core', 'db', 'search', 'storage', 'jobs', 'auth'],
    role: 'BALP AuditEvents, the hash chain and seals, retention, AuditEvent search' },
  { name: 'subscriptions', paths: ['src/subscriptions/'], uses: ['core', 'db', 'search', 'storage', 'auth', 'audit'],
    role: 'Subscriptions: criteria and topics, the outbox written with each change, delivery workers, notifications' },
  { name: 'interactions', paths: ['src/interactions/'],
    uses: ['core', 'db', 'terminology', 'search', 'storage', 'validation', 'jobs', 'auth', 'audit', 'subscriptions'],
    role: 'the FHIR interactions (read … transaction) and dispatch; Deps and Context' },
  { name: 'bulk', paths: ['src/bulk/'],
    uses: ['core', 'db', 'search', 'storage', 'validation', 'jobs', 'auth', 'audit', 'subscriptions', 'interactions'],
    role: 'Bulk Data $export: kick-off, the export job, files, status' },
  { name: 'operations', paths: ['src/operations/'],
    uses: ['core', 'db', 'terminology', 'search', 'storage', 'validation', 'jobs', 'workflows', 'auth', 'audit', 'subscriptions', 'interactions', 'bulk'],
    role: 'the $operations, the table of jobs and the daily data retention' },
  { name: 'oauth', paths: ['src/oauth/'], uses: ['core', 'db', 'search', 'storage', 'auth'],
    role: 'the SMART authorization server: authorize, login, token, introspect, revoke, clients, users' },
  { name: 'http', paths: ['src/http/'],
    uses: ['core', 'db', 'search', 'storage', 'validation', 'jobs', 'auth', 'audit', 'subscriptions', 'interactions', 'bulk', 'operations', 'oauth'],
    role: 'the only code that knows Fastify: routes, content negotiation, rendering, admin API, pages' },
  { name: 'app', paths: ['src/app.ts', 'src/main.ts', 'src/cli.ts', 'src/cli-admin.ts'],
    uses: ['core', 'db', 'search', 'storage', 'validation', 'jobs', 'workflows', 'auth', 'audit', 'subscriptions', 'interactions', 'bulk', 'operations', 'oauth', 'http'],
    role: 'the composition root: builds Deps, the server, the CLI' },
];

module.exports = { LAYERS };
