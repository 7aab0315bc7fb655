/**
 * Hearth's command line (ARCHITECTURE §10): serve, migrate, tenant, import, and the operator commands client, launch,
 * token and keys here; user, admin, role and break-glass in cli-admin.ts, with the runner they all share. The tenant
 * and operator commands go through the admin API of a running server when one answers at HEARTH_ADMIN_URL — a PGlite
 * data directory can be open in one process only — and otherwise run the same actions (src/http/admin.ts) on the
 * database directly.
 */
import os from 'node:os';
import { startExportExpiry } from './bulk/expiry.js';
import { startAuditSchedules } from './audit/schedule.js';
import { startWorkflowSchedules } from './workflows/tasks.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline/promises';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig } from './config.js';
import { ROOT, buildApp, createDeps, deliveryDeps, loadAllMigrations } from './app.js';
import { auditSettings, clientView, consentSettings, issueLocalToken, lifetimeSettings, openLaunch, registerClient, suspendTenant, tenantView,
  updateTenantDetails } from './http/admin.js';
import { createTenant, deleteTenant, findTenant, listTenants, setSuspended } from './storage/tenants.js';
import { keysView, rotateKey } from './jobs/rekey.js';
import { keyProviderFor } from './db/vault.js';
import { FhirError, clientNotFound, unknownTenant } from './errors.js';
import { deleteClient, listClients } from './oauth/clients.js';
import { JOB_HANDLERS } from './operations/jobs.js';
import { startRetentionSchedule } from './operations/retention.js';
import { JobWorker } from './jobs/worker.js';
import { startSubscriptionDelivery } from './subscriptions/worker.js';
import { importFiles, importLocal } from './bulk/import-local.js';
import { installPackage } from './bulk/package.js';
import { ADMIN_TOKEN_FILE, type Json, UsageError, admin, breakGlass, flags, onTenant, print, required, role, runAdmin, tenantPath, user,
  withDb } from './cli-admin.js';

const USAGE = `Usage: hearth <command>
  serve                     start the FHIR server (default)
  migrate                   apply database migrations and exit
  tenant create <slug>      create a tenant (its own schema and FHIR base /fhir/<slug>)
  tenant list               list tenants (slug, schema, status, display name)
  tenant show <slug>  |  tenant update <slug> [--display-name N] [--contact C] [--host H]  (H '' removes it)
  tenant suspend <slug> --reason R   close its FHIR and SMART endpoints and pause its jobs  |  tenant activate <slug>
  tenant delete <slug> [--yes]   drop a tenant and all its data (asks to confirm; --yes skips the question)
  tenant keys <slug>  |  tenant rotate-key <slug>   its data keys; a new one, every row re-encrypted by a job
  tenant audit-retention <slug> [months]   show or set how long AuditEvents are kept (default 72 months)
  tenant lifetimes <slug> [name=value]...   show or set access_token_seconds, refresh_token_days, session_hours,
                            session_idle_minutes (0: no idle timeout), break_glass_minutes
  tenant consent-default <slug> [opt-in|opt-out]   show or set what holds where no patient Consent decides
  user create --username U --fhir-user Patient/1 (--password P | --password-stdin) [--totp] [--roles R,...] [--tenant T]
  user list [--username PREFIX] [--fhir-user R] [--status active|disabled|locked] [--count N] [--after USERNAME] [--tenant T]
  user show|disable|enable|unlock|password-reset|totp-reset|delete <id> [--tenant T]
  user update <id> [--username U] [--fhir-user R] [--roles doctor,nurse] [--tenant T]
  role list|show <name>|delete <name> [--tenant T]
  role set <name> --scopes "user/Observation.rs ..." [--relationship care-team,encounter,...] [--purpose TREAT,...]
                            [--description D] [--tenant T]
  break-glass list [--status unreviewed|active|all] [--tenant T]   break-the-glass sessions (default: awaiting review)
  break-glass review <id> --note N [--tenant T]
  admin create --username U (--password P | --password-stdin) [--totp]   a global administrator of the admin API
  admin list  |  admin show|disable|enable|unlock|delete <id>
  client create --name N --type public|confidential|backend [--redirect-uri U]... [--scope "..."]
                [--jwks-file F | --jwks-uri U] [--launch-uri U] [--tenant T]
  client list [--tenant T]  |  client delete <client_id> [--tenant T]
  launch --patient P [--encounter E] [--tenant T]      EHR launch id and iss
  token --scope "system/*.cruds ..." [--expires-in S] [--patient P] [--tenant T]   prints an access token
  keys rotate               new token signing key
  import <tenant> <file or folder>...   load NDJSON files (one resource per line, ids kept) and transaction or
                            batch Bundle files (.json) into a tenant, in this process (not through a running server)
Tenant and operator commands use the server at HEARTH_ADMIN_URL (default http://localhost:$HEARTH_PORT) with
HEARTH_ADMIN_TOKEN or <HEARTH_DATA_DIR>/admin-token; with no server running they open the database.
--tenant defaults to "default".`;

/** The admin token `serve` made for itself: random, 0600 in the data directory, replaced at every start. */
function writeAdminToken(dataDir: string): string {
  const token = crypto.randomBytes(32).toString('base64url');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const temp = path.join(dataDir, `${ADMIN_TOKEN_FILE}.${process.pid}.tmp`);
  fs.writeFileSync(temp, `${token}\n`, { mode: 0o600 });
  fs.renameSync(temp, path.join(dataDir, ADMIN_TOKEN_FILE));
  return token;
}

const shellWord = (s: string) => (/^[\w/.:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** One command that yields a token and one curl that uses it, as they work from the shell that ran `npm start`. */
function firstSteps(config: Config, port: number, generatedToken: boolean): string {
  const env: string[] = [];
  if (port !== 8080) env.push(`HEARTH_PORT=${port}`);
  const local = ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost'].includes(config.host);
  const host = local ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  if (!local) env.push(`HEARTH_ADMIN_URL=http://${host}:${port}`);
  if (generatedToken && config.dataDir !== path.resolve('.hearth')) env.push(`HEARTH_DATA_DIR=${shellWord(config.dataDir)}`);
  const bin = process.cwd() === ROOT ? 'bin/hearth' : shellWord(path.join(ROOT, 'bin/hearth'));
  // The README's "Try it" starts with this very line (with no env at the defaults), so the two cannot drift.
  const command = [...env, 'node', bin, 'token', '--scope', "'system/*.cruds'"].join(' ');
  const base = `${config.baseUrl ?? `http://${host}:${port}`}/fhir/default`;
  const withToken = generatedToken ? '' : ' (with HEARTH_ADMIN_TOKEN set)';
  return `Get an access token${withToken}:  TOKEN=$(${command})\n`
    + `Try it:  curl -H "Authorization: Bearer $TOKEN" ${base}/Patient\n`;
}

async function serve() {
  const config = loadConfig();
  // The key-encryption key first (the embedded default generates its file), so the start can say where it is.
  const kek = keyProviderFor(config);
  const deps = await createDeps(config);
  // Written only once the database is open: a second server on a locked PGlite directory must not replace the file.
  const generatedToken = !config.adminToken;
  try {
    config.adminToken ??= writeAdminToken(config.dataDir);
  } catch (e) {
    await deps.db.close();
    throw e;
  }
  const app = buildApp(deps);
  const worker = new JobWorker(deps, JOB_HANDLERS);
  let closing = false;
  let stopExpiry: () => Promise<void> = async () => undefined;
  let stopAudit: () => Promise<void> = async () => undefined;
  let stopWorkflows: () => Promise<void> = async () => undefined;
  let stopRetention: () => Promise<void> = async () => undefined;
  let stopDelivery: () => Promise<void> = async () => undefined;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
    await stopExpiry();
    await stopAudit();
    await stopWorkflows();
    await stopRetention();
    await stopDelivery();
    await worker.stop();
    await deps.audit.close();
    await deps.db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await app.listen({ port: config.port, host: config.host });
  worker.start();
  stopExpiry = startExportExpiry(deps, (e) => app.log.error({ err: e }, 'export expiry sweep failed'));
  // Driver messages can quote data values: only the error's class and SQLSTATE are logged.
  stopAudit = startAuditSchedules(deps, (e) => app.log.error({ err: { type: (e as Error).name, code: (e as { code?: unknown }).code } },
    'audit sealing or retention failed'), app.log);
  stopWorkflows = startWorkflowSchedules(deps, (e) => app.log.error({ err: { type: (e as Error).name, code: (e as { code?: unknown }).code } },
    'slot generation or hold release failed'), app.log);
  stopRetention = startRetentionSchedule(deps, (e) => app.log.error({ err: { type: (e as Error).name, code: (e as { code?: unknown }).code } },
    'data retention failed'));
  stopDelivery = await startSubscriptionDelivery(deliveryDeps(deps));
  const port = (app.server.address() as AddressInfo).port;
  app.log.info({ database: deps.db.kind, base: `${config.baseUrl ?? `http://localhost:${port}`}/fhir/default` },
    'Hearth is serving FHIR R4');
  app.log.info({ keyEncryptionKey: kek.source, newTenantsEncrypted: deps.db.keyring.enabled }, 'encryption at rest');
  if (kek.generated) {
    process.stdout.write(`Generated the key-encryption key file ${kek.source} (mode 0600), beside the data directory: keep a copy `
      + 'apart from the database and its backups. Without it the encrypted data cannot be read.\n');
  }
  process.stdout.write(firstSteps(config, port, generatedToken));
}

/**
 * Deleting a tenant drops its schema: on a terminal the operator types the slug to confirm; without one (a script, a
 * pipe) nothing can be asked, so only --yes deletes (issue #22 §14).
 */
async function confirmTenantDelete(slug: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new Error(`tenant ${slug} was not deleted: without a terminal to confirm on, add --yes to delete it and all its data`);
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  const closed = new Promise<string>((resolve) => rl.once('close', () => resolve('')));
  try {
    const answer = await Promise.race([rl.question(`Delete tenant ${slug} and all its data? Type its slug to confirm: `), closed]);
    if (answer.trim() !== slug) throw new Error(`tenant ${slug} was not deleted: the answer was not its slug`);
  } finally {
    rl.close();
  }
}

interface TenantArgs { sub?: string; slug?: string; rest: string[]; yes: boolean; reason?: string; details: Json }

function tenantArgs(args: string[]): TenantArgs {
  const [sub, ...more] = args;
  try {
    const options: NonNullable<ParseArgsConfig['options']> = sub === 'delete' ? { yes: { type: 'boolean', short: 'y' } }
      : sub === 'suspend' ? { reason: { type: 'string' } }
        : sub === 'update' ? { 'display-name': { type: 'string' }, contact: { type: 'string' }, host: { type: 'string' } } : {};
    const { values, positionals } = parseArgs({ args: more, allowPositionals: true, strict: true, options });
    const [slug, ...rest] = positionals;
    const v = values as { yes?: boolean; reason?: string; 'display-name'?: string; contact?: string; host?: string };
    return { ...(sub ? { sub } : {}), ...(slug ? { slug } : {}), rest, yes: v.yes === true,
      ...(v.reason !== undefined ? { reason: v.reason } : {}),
      details: { ...(v['display-name'] !== undefined ? { displayName: v['display-name'] } : {}), ...(v.contact !== undefined ? { contact: v.contact } : {}),
        // --host '' removes the host name
        ...(v.host !== undefined ? { host: v.host === '' ? null : v.host } : {}) } };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Tenant commands go through the running server's admin API like the operator commands (a PGlite data directory is
 * open in one process only; issue #22 §14), else on the database.
 */
async function tenant(args: string[]) {
  const { sub, slug, rest, yes, reason, details } = tenantArgs(args);
  const tenantLine = (t: Json) => process.stdout.write(`${[t.slug, t.schema, t.status, t.displayName ?? '-'].join('\t')}\n`);
  if (sub === 'list' && !slug) {
    const out = await runAdmin({ method: 'GET', path: '/admin/tenants',
      direct: async ({ db }) => ({ tenants: (await listTenants(db)).map(tenantView) }) });
    for (const t of (out.tenants ?? []) as Json[]) tenantLine(t);
  } else if (sub === 'show' && slug && rest.length === 0) {
    const out = await runAdmin({ method: 'GET', path: `/admin/tenants/${encodeURIComponent(slug)}`, direct: async ({ db }) => {
      const t = await findTenant(db, slug);
      if (!t) throw unknownTenant(slug);
      return tenantView(t);
    } });
    print(Object.entries(out));
  } else if (sub === 'suspend' && slug && rest.length === 0) {
    const body = { reason: reason ?? '' };
    tenantLine(await runAdmin({ method: 'POST', path: tenantPath(slug, 'suspend'), body,
      direct: ({ db }) => suspendTenant(db, slug, body, new Date()) }));
  } else if (sub === 'activate' && slug && rest.length === 0) {
    tenantLine(await runAdmin({ method: 'POST', path: tenantPath(slug, 'activate'),
      direct: async ({ db }) => tenantView(await setSuspended(db, slug, null, new Date())) }));
  } else if (sub === 'update' && slug && rest.length === 0) {
    tenantLine(await runAdmin({ method: 'PATCH', path: `/admin/tenants/${encodeURIComponent(slug)}`, body: details,
      direct: ({ db }) => updateTenantDetails(db, slug, details) }));
  } else if (sub === 'create' && slug && rest.length === 0) {
    await runAdmin({ method: 'POST', path: '/admin/tenants', body: { slug },
      direct: async ({ db }) => tenantView(await createTenant(db, slug, loadAllMigrations().tenant)) });
    process.stdout.write(`created tenant ${slug}\n`);
  } else if (sub === 'delete' && slug && rest.length === 0) {
    await confirmTenantDelete(slug, yes);
    await runAdmin({ method: 'DELETE', path: `/admin/tenants/${encodeURIComponent(slug)}?confirm=${encodeURIComponent(slug)}`,
      direct: async ({ db }) => { await deleteTenant(db, slug, { operator: `cli:${os.userInfo().username}` }); return {}; } });
    process.stdout.write(`deleted tenant ${slug}\n`);
  } else if (sub === 'keys' && slug && rest.length === 0) {
    const out = await runAdmin({ method: 'GET', path: tenantPath(slug, 'keys'), direct: onTenant(slug, ({ db, tenant }) => keysView(db, tenant)) });
    print([['encrypted', out.encrypted], ['activeVersion', out.activeVersion], ['rowsNotUnderActive', out.rowsNotUnderActive]]);
    for (const v of (out.versions ?? []) as Json[]) print([['version', `${String(v.version)}\t${String(v.provider)}\t${String(v.createdAt)}`]]);
    const last = out.lastRotation as Json | undefined;
    if (last) print([['lastRotation', `${String(last.id)}\t${String(last.status)}\t${JSON.stringify(last.result ?? last.progress)}`]]);
  } else if (sub === 'rotate-key' && slug && rest.length === 0) {
    const out = await runAdmin({ method: 'POST', path: tenantPath(slug, 'keys/rotate'),
      direct: onTenant(slug, ({ db, tenant }) => rotateKey(db, tenant)) });
    const job = out.job as Json;
    process.stdout.write(`data key version ${String(out.version)} of tenant ${slug}; re-encryption job ${String(job.id)} ${String(job.status)}\n`);
  } else if (sub === 'lifetimes' && slug) {
    const body: Record<string, number> = {};
    for (const pair of rest) {
      const m = /^([a-z_]+)=(\d+)$/.exec(pair);
      if (!m) throw new UsageError(`give name=value pairs, e.g. session_idle_minutes=15 (not "${pair}")`);
      body[m[1]!] = Number(m[2]);
    }
    const change = rest.length > 0;
    const out = await runAdmin({ method: change ? 'PUT' : 'GET', path: tenantPath(slug, 'lifetimes'), ...(change ? { body } : {}),
      direct: onTenant(slug, lifetimeSettings, change ? body : undefined) });
    print(Object.entries(out));
  } else if (sub === 'consent-default' && slug && rest.length <= 1) {
    const value = rest[0];
    if (value !== undefined && value !== 'opt-in' && value !== 'opt-out') throw new UsageError('give opt-in or opt-out');
    const body = value !== undefined ? { default: value } : undefined;
    const out = await runAdmin({ method: body ? 'PUT' : 'GET', path: tenantPath(slug, 'consent'), ...(body ? { body } : {}),
      direct: onTenant(slug, consentSettings, body) });
    print(Object.entries(out));
  } else if (sub === 'audit-retention' && slug && rest.length <= 1) {
    const months = rest[0];
    if (months !== undefined && !/^\d+$/.test(months)) throw new UsageError('give the retention period in whole months');
    const body = months !== undefined ? { retention_months: Number(months) } : undefined;
    const out = await runAdmin({ method: body ? 'PUT' : 'GET', path: tenantPath(slug, 'audit'), ...(body ? { body } : {}),
      direct: onTenant(slug, auditSettings, body) });
    print([['retention_months', out.retention_months]]);
  } else {
    throw new UsageError();
  }
}

function readJwks(file: string): unknown {
  let value: { kty?: unknown };
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8')) as { kty?: unknown };
  } catch (e) {
    throw new Error(`--jwks-file ${file}: ${(e as Error).message}`);
  }
  return typeof value === 'object' && value !== null && 'kty' in value ? { keys: [value] } : value; // a lone JWK is accepted
}

async function client(args: string[]) {
  const [sub, ...rest] = args;
  if (sub === 'list' || sub === 'delete') {
    const { values: v, positionals } = flags(rest, {}, sub === 'delete' ? 1 : 0);
    const id = positionals[0] ?? '';
    const out = await runAdmin(sub === 'list'
      ? { method: 'GET', path: tenantPath(v.tenant, 'clients'), direct: onTenant(v.tenant, async (t) =>
        ({ clients: (await listClients(t.db, t.tenant.schema)).map((c) => clientView(c)) })) }
      : { method: 'DELETE', path: tenantPath(v.tenant, `clients/${encodeURIComponent(id)}`), direct: onTenant(v.tenant, async (t) => {
        if (!(await deleteClient(t.db, t.tenant.schema, id))) throw clientNotFound(id);
        return {};
      }) });
    if (sub === 'delete') process.stdout.write(`deleted client ${id}\n`);
    for (const c of (out.clients ?? []) as Json[]) process.stdout.write(`${c.client_id}\t${c.type}\t${c.name}\t${c.scope}\n`);
    return;
  }
  if (sub !== 'create') throw new UsageError();
  const { values: v } = flags(rest, { name: { type: 'string' }, type: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true }, scope: { type: 'string' }, 'jwks-file': { type: 'string' },
    'jwks-uri': { type: 'string' }, 'launch-uri': { type: 'string' } });
  const body: Json = { name: required(v.name, 'name'), type: required(v.type, 'type'), redirect_uris: v['redirect-uri'] ?? [],
    ...(v.scope !== undefined ? { scope: v.scope } : {}), ...(v['jwks-file'] ? { jwks: readJwks(v['jwks-file']) } : {}),
    ...(v['jwks-uri'] ? { jwks_uri: v['jwks-uri'] } : {}), ...(v['launch-uri'] ? { launch_uri: v['launch-uri'] } : {}) };
  const out = await runAdmin({ method: 'POST', path: tenantPath(v.tenant, 'clients'), body, direct: onTenant(v.tenant, registerClient, body) });
  print([['client_id', out.client_id], ['client_secret', out.client_secret]]);
}

async function launch(args: string[]) {
  const { values: v } = flags(args, { patient: { type: 'string' }, encounter: { type: 'string' } });
  const body = { patient: required(v.patient, 'patient'), ...(v.encounter ? { encounter: v.encounter } : {}) };
  const out = await runAdmin({ method: 'POST', path: tenantPath(v.tenant, 'launches'), body, direct: onTenant(v.tenant, openLaunch, body) });
  print([['launch', out.launch], ['iss', out.iss]]);
}

async function token(args: string[]) {
  const { values: v } = flags(args, { scope: { type: 'string' }, 'expires-in': { type: 'string' }, patient: { type: 'string' } });
  const expiresIn = v['expires-in'];
  if (expiresIn !== undefined && !/^\d+$/.test(expiresIn)) throw new UsageError('--expires-in takes a number of seconds');
  const body = { scope: required(v.scope, 'scope'), ...(expiresIn ? { expires_in: Number(expiresIn) } : {}),
    ...(v.patient ? { patient: v.patient } : {}) };
  const out = await runAdmin({ method: 'POST', path: tenantPath(v.tenant, 'tokens'), body, direct: onTenant(v.tenant, issueLocalToken, body) });
  process.stdout.write(`${String(out.access_token)}\n`);
}

async function keys(args: string[]) {
  if (args.length !== 1 || args[0] !== 'rotate') throw new UsageError();
  const out = await runAdmin({ method: 'POST', path: '/admin/keys/rotate', direct: async ({ auth }) => ({ kid: await auth.keys.rotate() }) });
  print([['kid', out.kid]]);
}

/**
 * `hearth import`: runs in this process on the database (like `migrate`), NDJSON files through the import job and
 * Bundles through the transaction interaction; prints one line per file and exits 1 if anything was refused.
 */
async function importCommand(args: string[]) {
  const [slug, ...paths] = args;
  if (!slug || paths.length === 0) throw new UsageError('give a tenant and at least one file or folder');
  const files = importFiles(paths);
  const config = loadConfig();
  await withDb(async (db) => {
    const t = await findTenant(db, slug);
    if (!t) throw unknownTenant(slug);
    const deps = await createDeps(config, db);
    try {
      const base = `${config.baseUrl ?? `http://localhost:${config.port}`}/fhir/${t.slug}`;
      const reports = await importLocal(deps, t, base, files);
      for (const r of reports) {
        process.stdout.write(`${r.file}\timported ${r.imported}\tfailed ${r.failed}\n`);
        for (const m of r.messages.slice(0, 20)) process.stderr.write(`  ${m}\n`);
      }
      if (reports.some((r) => r.failed > 0)) process.exitCode = 1;
    } finally {
      await deps.audit.close();
      await deps.subscriptions.close(); // its LISTEN connection would keep the process alive
    }
  }, config);
}

/**
 * `hearth package install <tenant> <file.tgz>`: a FHIR NPM package's conformance resources into the tenant, through
 * the admin API when a server answers, else in this process on the database.
 */
async function packageCommand(args: string[]) {
  const [sub, slug, file, ...rest] = args;
  if (sub !== 'install' || !slug || !file || rest.length > 0) throw new UsageError('usage: hearth package install <tenant> <file.tgz>');
  const tgz = fs.readFileSync(file);
  const out = await runAdmin({ method: 'POST', path: tenantPath(slug, 'packages'), body: { package: tgz.toString('base64') },
    direct: async ({ db, config }) => {
      const t = await findTenant(db, slug);
      if (!t) throw unknownTenant(slug);
      const deps = await createDeps(config, db);
      try {
        const base = `${config.baseUrl ?? `http://localhost:${config.port}`}/fhir/${t.slug}`;
        return await installPackage(deps, { tenant: t, base, search: await deps.tenantSearch.registryFor(db, t.schema) }, tgz);
      } finally {
        await deps.audit.close();
        await deps.subscriptions.close();
      }
    } });
  const installed = Object.entries(out.installed as Record<string, number>).map(([k, n]) => `${n} ${k}`).join(', ');
  process.stdout.write(`${String(out.name)}#${String(out.version)}\tinstalled ${installed}\tskipped ${String(out.skipped)}\n`);
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  serve: () => serve(),
  migrate: async () => { await withDb(async () => undefined); process.stdout.write('migrations applied\n'); },
  tenant, user, role, 'break-glass': breakGlass, admin, client, launch, token, keys, import: importCommand, package: packageCommand,
};

export async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv;
  try {
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError();
    await run(rest);
  } catch (e) {
    if (e instanceof UsageError) process.stderr.write(`${e.message ? `hearth: ${e.message}\n` : ''}${USAGE}\n`);
    else if (e instanceof ConfigError) process.stderr.write(`hearth: configuration error: ${e.message}\n`);
    else if (e instanceof FhirError) process.stderr.write(`hearth: ${e.message}\n`);
    else process.stderr.write(`hearth: ${(e as Error).message}\n`);
    process.exitCode = e instanceof UsageError ? 64 : 1;
  }
}
