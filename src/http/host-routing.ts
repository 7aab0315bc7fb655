/**
 * Routing by host name (issue #17 §5; README "Tenants"): a tenant with a host name (e.g. acme.example.org) is served
 * there with /fhir as its FHIR base and /auth as its authorization server. Requests to such a host are rewritten to
 * the path form before routing (/fhir/Patient/1 → /fhir/acme/Patient/1), which keeps working too; either way the
 * base the tenant reports on that host is https://acme.example.org/fhir, so tokens, links and discovery agree. Fastify
 * rewrites synchronously, so each node keeps the host names in memory, re-read every 5 s and at once on a local change.
 */
import type { FastifyRequest } from 'fastify';
import type { Db } from '../db/db.js';
import type { Deps } from '../interactions/context.js';
import { tenantHosts } from '../storage/tenants.js';

const REFRESH_MS = 5_000;

export class TenantHosts {
  private bySlug = new Map<string, string>();
  private byHost = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Db) {}

  async refresh(): Promise<void> {
    this.byHost = await tenantHosts(this.db);
    this.bySlug = new Map([...this.byHost].map(([host, slug]) => [slug, host]));
  }

  /** The tenant served at this Host header, if any. */
  slugAt(host: string | undefined): string | undefined {
    return host === undefined ? undefined : this.byHost.get(host.toLowerCase());
  }

  /** Re-reads the host names every REFRESH_MS (failures keep the last known map) until stop(). */
  start(onError: (e: unknown) => void): void {
    this.timer ??= setInterval(() => void this.refresh().catch(onError), REFRESH_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

const hosts = new WeakMap<Deps, TenantHosts>();

/** The host names of this server's tenants (one map per composition root). */
export function tenantHostsOf(deps: Deps): TenantHosts {
  let h = hosts.get(deps);
  if (!h) hosts.set(deps, h = new TenantHosts(deps.db));
  return h;
}

/** The path form of a URL asked at the host of tenant `slug`: /fhir/… and /auth/… gain the slug unless they have it. */
export function rewriteForHost(url: string, slug: string): string {
  for (const prefix of ['/fhir', '/auth']) {
    if (url !== prefix && !url.startsWith(`${prefix}/`) && !url.startsWith(`${prefix}?`)) continue;
    const rest = url.slice(prefix.length);
    if (rest === `/${slug}` || rest.startsWith(`/${slug}/`) || rest.startsWith(`/${slug}?`)) return url;
    return `${prefix}/${slug}${rest}`;
  }
  return url;
}

/** This server's public origin as the request reached it: HEARTH_BASE_URL when set, else from the request. */
export function publicBase(deps: Deps, req: FastifyRequest): string {
  return deps.config.baseUrl ?? `${req.protocol}://${req.host}`;
}

/**
 * The tenant's absolute FHIR base as this request sees it: https://<its host>/fhir at the tenant's own host name,
 * else <public origin>/fhir/<slug>.
 */
export function tenantBase(deps: Deps, req: FastifyRequest, slug: string): string {
  if (tenantHostsOf(deps).slugAt(req.headers.host) === slug) {
    const protocol = deps.config.baseUrl ? new URL(deps.config.baseUrl).protocol.replace(/:$/, '') : req.protocol;
    return `${protocol}://${req.host.toLowerCase()}/fhir`;
  }
  return `${publicBase(deps, req)}/fhir/${slug}`;
}
