/** Environment → typed configuration, validated once at start (issue #2 §2). */
import path from 'node:path';

export interface Config {
  port: number;
  host: string;
  /** Public origin for absolute URLs (e.g. https://fhir.example.org); undefined → taken from each request. */
  baseUrl?: string;
  /** PostgreSQL connection string; undefined → embedded PGlite in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  bodyLimit: number;
  logLevel: string;
  adminToken?: string;
  /** Largest page a search or history request may ask for. */
  maxPageSize: number;
  defaultPageSize: number;
  /** Milliseconds before a single SQL statement is cancelled. */
  statementTimeoutMs: number;
  poolSize: number;
  /** Milliseconds a tenant's grant row stays cached between revocations (0: read on every request). */
  grantCacheMs: number;
  updateCreate: boolean;
  /** Signs page tokens; set it when several nodes serve one database so their links interoperate. */
  pageSecret?: string;
  /**
   * The key-encryption key of encryption at rest (issue #17 §1), from which a key is derived (HKDF-SHA-256); it also
   * encrypts token signing keys. Without it, keyFile holds the key-encryption key.
   */
  keySecret?: string;
  /** The key-encryption key's file when keySecret is unset (default: `<dataDir>.key`, made with mode 0600 if missing). */
  keyFile?: string;
  /** Whether new tenants get a data key and store resource bodies encrypted (HEARTH_ENCRYPTION, default on). */
  encryption: boolean;
  /** Bulk Data export: directory of the output files (the directory store; bulk-data.md §7). */
  exportDir: string;
  /** `$import`: the only directory `file://` inputs may name (anything outside it is refused). */
  importDir: string;
  /** `$import`: URL prefixes `http(s)://` inputs must start with (none by default: only `file://` inputs). */
  importAllowUrls: string[];
  /** Subscriptions (issue #20): rest-hook endpoint prefixes allowed (empty: any https URL, http on localhost). */
  subscriptionAllowUrls: string[];
  /** First retry delay of a failed delivery, doubled per failure (with jitter) up to subscriptionRetryMaxMs. */
  subscriptionRetryMs: number;
  subscriptionRetryMaxMs: number;
  /** How long one delivery may take before it counts as failed. */
  subscriptionTimeoutMs: number;
  /** Subscriptions served at once on this node (a slow endpoint holds one until its timeout). */
  subscriptionWorkers: number;
  /** Days delivered events stay in the outbox for $events replay. */
  subscriptionEventDays: number;
  /** Milliseconds an export's files stay downloadable after it completes; then a scheduled sweep deletes them. */
  exportTtlMs: number;
  /** Exports one client may have queued or running in a tenant at once; beyond it a kick-off answers 429. */
  exportMaxJobs: number;
  /** Resources per output file before the next file of the same type begins. */
  exportFileResources: number;
  /** Records AuditEvents (default). Off only to measure what auditing costs: never in production. */
  auditEnabled: boolean;
  /** Keys the HMAC of every audit seal; kept outside the database so that a superuser cannot forge seals. */
  auditSealSecret?: string;
  /** Seconds between runs of the sealing job. */
  auditSealIntervalS: number;
  /** Days ahead the daily job keeps generated Slots for (issue #18 §1); 0 turns the job off. */
  slotHorizonDays: number;
  /** Minutes an Appointment/$hold holds its slots. */
  holdMinutes: number;
  /** IANA time zone of working patterns whose Schedule names none (the timezone extension). */
  timezone: string;
  /** Where retention writes the NDJSON of expired audit partitions (with their seals) before dropping them. */
  auditArchiveDir: string;
  /** Seconds an access token stays accepted past its exp (and before its iat): clock skew between nodes. */
  clockSkewS: number;
  /** Seconds of clock skew allowed on a client assertion's exp, iat and nbf (private_key_jwt; issue #22 §6). */
  assertionClockSkewS: number;
  /** Requests per minute and client IP to each of token, introspect and revoke. */
  authRateLimit: number;
  /** FHIR API requests per minute per client of a tenant (0: no limit; issue #16 §5). */
  apiClientRateLimit: number;
  /** FHIR API requests per minute per user of a tenant (0: no limit). */
  apiUserRateLimit: number;
  /** Origins (scheme://host[:port]) whose browser scripts may call the API and the authorization server; '*' any. */
  corsOrigins: string[];
  /** Login POSTs per client IP and minute. */
  loginRateLimit: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function timeZone(env: NodeJS.ProcessEnv, key: string, fallback: string): string {
  const raw = env[key]?.trim();
  if (!raw) return fallback;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: raw });
  } catch {
    throw new ConfigError(`${key} must be an IANA time zone such as Europe/Berlin, got '${raw}'`);
  }
  return raw;
}

function integer(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${key} must be a whole number, got '${raw}'`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${key} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function boolean(env: NodeJS.ProcessEnv, key: string, fallback: boolean): boolean {
  const raw = env[key]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${key} must be true or false, got '${raw}'`);
}

/** A comma list of absolute http(s) URL prefixes. */
function urlPrefixes(env: NodeJS.ProcessEnv, key: string): string[] {
  const list = (env[key] ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  for (const u of list) {
    if (!/^https?:\/\/[^/]+\//i.test(u)) throw new ConfigError(`${key}: '${u}' must be an http(s) URL prefix ending in a path, e.g. https://files.example.org/`);
  }
  return list;
}

/** Bytes from '64mb', '1gb', '1048576'. */
function byteSize(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  const m = /^(\d+)\s*(b|kb|mb|gb)?$/.exec(raw);
  if (!m) throw new ConfigError(`${key} must be a size such as 64mb, got '${raw}'`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b') as 'b'];
  const n = Number(m[1]) * unit;
  if (n < 1024) throw new ConfigError(`${key} must be at least 1kb`);
  return n;
}

/** Milliseconds from '24h', '30m', '90s', '500ms' or a bare number of seconds. */
function duration(env: NodeJS.ProcessEnv, key: string, fallbackMs: number): number {
  const raw = env[key]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallbackMs;
  const m = /^(\d+)\s*(ms|s|m|h|d)?$/.exec(raw);
  if (!m) throw new ConfigError(`${key} must be a duration such as 24h, 30m or 3600s, got '${raw}'`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 's'];
  if (ms < 1000) throw new ConfigError(`${key} must be at least 1s`);
  return ms;
}

function url(env: NodeJS.ProcessEnv, key: string, protocols: string[]): string | undefined {
  const raw = env[key]?.trim();
  if (!raw) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${key} is not a valid URL`);
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(`${key} must use ${protocols.join(' or ')}`);
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const logLevel = env.HEARTH_LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.has(logLevel)) throw new ConfigError(`HEARTH_LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}`);
  const baseUrl = url(env, 'HEARTH_BASE_URL', ['http:', 'https:'])?.replace(/\/+$/, '');
  const adminToken = env.HEARTH_ADMIN_TOKEN?.trim() || undefined;
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('HEARTH_ADMIN_TOKEN must be at least 16 characters');
  }
  const dataDir = path.resolve(env.HEARTH_DATA_DIR?.trim() || '.hearth');
  const defaultPageSize = integer(env, 'HEARTH_DEFAULT_PAGE_SIZE', 20, 1, 10000);
  const maxPageSize = integer(env, 'HEARTH_MAX_PAGE_SIZE', 1000, 1, 10000);
  if (defaultPageSize > maxPageSize) throw new ConfigError('HEARTH_DEFAULT_PAGE_SIZE exceeds HEARTH_MAX_PAGE_SIZE');
  return {
    port: integer(env, 'HEARTH_PORT', 8080, 0, 65535),
    host: env.HEARTH_HOST?.trim() || '0.0.0.0',
    baseUrl,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir,
    bodyLimit: byteSize(env, 'HEARTH_BODY_LIMIT', 64 * 1024 * 1024),
    logLevel,
    adminToken,
    maxPageSize,
    defaultPageSize,
    statementTimeoutMs: integer(env, 'HEARTH_STATEMENT_TIMEOUT_MS', 30000, 100, 3600000),
    grantCacheMs: integer(env, 'HEARTH_GRANT_CACHE_MS', 30000, 0, 3600000),
    poolSize: integer(env, 'HEARTH_DB_POOL_SIZE', 10, 1, 200),
    updateCreate: boolean(env, 'HEARTH_UPDATE_CREATE', true),
    pageSecret: env.HEARTH_PAGE_SECRET?.trim() || undefined,
    keySecret: env.HEARTH_KEY_SECRET?.trim() || undefined,
    keyFile: env.HEARTH_KEY_FILE?.trim() ? path.resolve(env.HEARTH_KEY_FILE.trim()) : undefined,
    encryption: boolean(env, 'HEARTH_ENCRYPTION', true),
    exportDir: path.resolve(env.HEARTH_EXPORT_DIR?.trim() || path.join(dataDir, 'exports')),
    importDir: path.resolve(env.HEARTH_IMPORT_DIR?.trim() || path.join(dataDir, 'import')),
    importAllowUrls: urlPrefixes(env, 'HEARTH_IMPORT_ALLOW_URLS'),
    subscriptionAllowUrls: urlPrefixes(env, 'HEARTH_SUBSCRIPTION_ALLOW_URLS'),
    subscriptionRetryMs: integer(env, 'HEARTH_SUBSCRIPTION_RETRY_MS', 1000, 10, 3600000),
    subscriptionRetryMaxMs: integer(env, 'HEARTH_SUBSCRIPTION_RETRY_MAX_MS', 300000, 10, 86400000),
    subscriptionTimeoutMs: integer(env, 'HEARTH_SUBSCRIPTION_TIMEOUT_MS', 10000, 100, 120000),
    subscriptionWorkers: integer(env, 'HEARTH_SUBSCRIPTION_WORKERS', 32, 1, 256),
    subscriptionEventDays: integer(env, 'HEARTH_SUBSCRIPTION_EVENT_DAYS', 7, 1, 3650),
    exportTtlMs: duration(env, 'HEARTH_EXPORT_TTL', 24 * 3_600_000),
    exportMaxJobs: integer(env, 'HEARTH_EXPORT_MAX_JOBS', 1, 1, 1000),
    exportFileResources: integer(env, 'HEARTH_EXPORT_FILE_RESOURCES', 100_000, 1, 100_000_000),
    auditEnabled: boolean(env, 'HEARTH_AUDIT', true),
    auditSealSecret: env.HEARTH_AUDIT_SEAL_SECRET?.trim() || undefined,
    auditSealIntervalS: integer(env, 'HEARTH_AUDIT_SEAL_INTERVAL', 10, 1, 3600),
    slotHorizonDays: integer(env, 'HEARTH_SLOT_HORIZON_DAYS', 28, 0, 366),
    holdMinutes: integer(env, 'HEARTH_HOLD_MINUTES', 10, 1, 1440),
    timezone: timeZone(env, 'HEARTH_TIMEZONE', 'UTC'),
    auditArchiveDir: path.resolve(env.HEARTH_AUDIT_ARCHIVE_DIR?.trim() || path.join(dataDir, 'audit-archive')),
    // Issue #12 §11: an undocumented 30 s let expired tokens through; a few seconds covers NTP-synchronised nodes.
    clockSkewS: integer(env, 'HEARTH_CLOCK_SKEW_SECONDS', 5, 0, 60),
    // Client clocks are not ours to synchronise, and the SMART Bulk Data client signs exp = round(now) + 300.
    assertionClockSkewS: integer(env, 'HEARTH_ASSERTION_CLOCK_SKEW_SECONDS', 60, 0, 300),
    authRateLimit: authRateLimit(env),
    apiClientRateLimit: integer(env, 'HEARTH_API_RATE_LIMIT', 12_000, 0, 10_000_000),
    apiUserRateLimit: integer(env, 'HEARTH_USER_RATE_LIMIT', 3_000, 0, 10_000_000),
    corsOrigins: corsOrigins(env),
    loginRateLimit: loginRateLimit(env),
  };
}

/**
 * HEARTH_CORS_ORIGINS: a comma list of origins (`https://app.example.org`, `http://localhost:3000`) or `*`; empty by
 * default — no cross-origin access but to the public discovery documents.
 */
function corsOrigins(env: NodeJS.ProcessEnv): string[] {
  const raw = env.HEARTH_CORS_ORIGINS?.trim();
  if (!raw) return [];
  const list = raw.split(',').map((o) => o.trim()).filter((o) => o !== '');
  if (list.includes('*')) {
    if (list.length > 1) throw new ConfigError('HEARTH_CORS_ORIGINS: "*" allows every origin and cannot be combined with others');
    return ['*'];
  }
  return list.map((o) => {
    let u: URL | undefined;
    try { u = new URL(o); } catch { u = undefined; }
    if (!u || !['http:', 'https:'].includes(u.protocol) || u.origin !== o.replace(/\/$/, '').toLowerCase()) {
      throw new ConfigError(`HEARTH_CORS_ORIGINS: "${o}" is not an origin (scheme://host[:port], no path)`);
    }
    return u.origin;
  });
}

/** Requests per minute and client IP to each of token, introspect and revoke (HEARTH_AUTH_RATE_LIMIT, default 60). */
export const authRateLimit = (env: NodeJS.ProcessEnv = process.env): number =>
  integer(env, 'HEARTH_AUTH_RATE_LIMIT', 60, 1, 1_000_000);

/** Login POSTs per client IP and minute: HEARTH_LOGIN_RATE_LIMIT, default 20 (ARCHITECTURE §7). */
export const loginRateLimit = (env: NodeJS.ProcessEnv = process.env): number =>
  integer(env, 'HEARTH_LOGIN_RATE_LIMIT', 20, 1, 1_000_000);

/**
 * Where the running server's admin API is. The default names localhost, not 127.0.0.1: a token's aud is the FHIR base
 * as the server sees the request's Host, and http://localhost:8080/fhir/default is the base every example uses.
 */
export const adminUrl = (env: NodeJS.ProcessEnv = process.env): string =>
  (env.HEARTH_ADMIN_URL?.trim() || `http://localhost:${env.HEARTH_PORT?.trim() || 8080}`).replace(/\/+$/, '');
