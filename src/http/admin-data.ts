/**
 * The admin API's routes for a tenant's data over its life (issue #17 §1–§5): its data keys and their rotation, retention rules with a dry-run report
 * and a run now (operations/retention.ts), and offboarding — suspend, export everything, serve the files until the
 * tenant is deleted (bulk/offboarding.ts); whether references are checked (issue #15 §2). Registered by admin.ts behind its authorization hook.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkText } from '../auth/break-glass.js';
import { offboardingFile, offboardingView, startOffboarding } from '../bulk/offboarding.js';
import { installPackage } from '../bulk/package.js';
import { badRequest, conflict, exportFileNotFound, retentionRuleNotFound, unprocessable } from '../errors.js';
import { canonicalStore, requiredProfiles, setRequiredProfiles } from '../storage/canonical.js';
import type { Deps } from '../interactions/context.js';
import { runRetention } from '../operations/retention.js';
import { keysView, rotateKey } from '../jobs/rekey.js';
import { referentialIntegrity, setReferentialIntegrity } from '../storage/links.js';
import { checkRule, deleteRetentionRule, listRetentionRules, putRetentionRule } from '../storage/retention.js';
import type { Db } from '../db/db.js';
import type { Tenant } from '../storage/tenants.js';
import { audited, retentionNamed, tenantNamed } from './admin-audit.js';
import { jsonObject, onlyFields } from './admin-input.js';
import { tenantBase } from './host-routing.js';

type SlugParams = { Params: { slug: string } };

export function registerDataLifecycleRoutes(app: FastifyInstance, deps: Deps,
  target: (req: FastifyRequest<SlugParams>) => Promise<{ db: Db; tenant: Tenant; isType: (type: string) => boolean }>): void {
  // Offboarding (issue #17 §5): suspend, export everything, keep the files keepDays, then delete the tenant.
  app.post<SlugParams>('/admin/tenants/:slug/offboard', async (req, reply) => reply.code(202).send(await audited(deps, req,
    'tenant-offboard', req.params.slug, async () => {
      const body = jsonObject(req.body);
      onlyFields(body, ['reason', 'keepDays']);
      const reason = checkText(body.reason, 'reason');
      return startOffboarding(deps, req.params.slug, { reason, keepDays: body.keepDays }, tenantBase(deps, req, req.params.slug),
        deps.auth.now());
    }, () => tenantNamed(req.params.slug))));
  app.get<SlugParams>('/admin/tenants/:slug/offboarding', async (req) => offboardingView(deps.db, (await target(req)).tenant));
  app.get<{ Params: { slug: string; name: string } }>('/admin/tenants/:slug/offboarding/files/:name', async (req, reply) => {
    const file = await offboardingFile(deps, (await target(req as FastifyRequest<SlugParams>)).tenant, req.params.name);
    if (!file) throw exportFileNotFound('offboarding', req.params.name);
    return reply.type('application/fhir+ndjson').header('Content-Length', file.size).send(file.stream);
  });
  // Encryption at rest (issue #17 §1–§2): the tenant's data key versions; a rotation makes a new one and re-encrypts.
  app.get<SlugParams>('/admin/tenants/:slug/keys', async (req) => keysView(deps.db, (await target(req)).tenant));
  app.post<SlugParams>('/admin/tenants/:slug/keys/rotate', async (req, reply) => reply.code(202).send(await audited(deps, req,
    'tenant-key-rotate', req.params.slug, async () => rotateKey(deps.db, (await target(req)).tenant), () => tenantNamed(req.params.slug))));
  // Referential integrity (issue #15 §2): on by default; {"referentialIntegrity": false} relaxes it for the tenant.
  app.get<SlugParams>('/admin/tenants/:slug/integrity', async (req) => {
    const t = await target(req);
    return { referentialIntegrity: await referentialIntegrity(t.db, t.tenant.schema) };
  });
  app.put<SlugParams>('/admin/tenants/:slug/integrity', async (req) => audited(deps, req, 'referential-integrity', req.params.slug,
    async () => {
      const body = jsonObject(req.body);
      onlyFields(body, ['referentialIntegrity']);
      if (typeof body.referentialIntegrity !== 'boolean') {
        throw badRequest('referentialIntegrity must be true or false', ['referentialIntegrity']);
      }
      const t = await target(req);
      await setReferentialIntegrity(t.db, t.tenant.schema, body.referentialIntegrity);
      return { referentialIntegrity: body.referentialIntegrity };
    }, () => tenantNamed(req.params.slug)));
  // FHIR NPM packages (issue #15 §4): the .tgz as base64 in {"package": …}; installed in one transaction.
  app.post<SlugParams>('/admin/tenants/:slug/packages', async (req) => audited(deps, req, 'package-install', req.params.slug,
    async () => {
      const body = jsonObject(req.body);
      onlyFields(body, ['package']);
      if (typeof body.package !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(body.package)) {
        throw badRequest('package must be the .tgz file in base64', ['package']);
      }
      const t = await target(req);
      const ctx = { tenant: t.tenant, base: tenantBase(deps, req, t.tenant.slug), search: await deps.tenantSearch.registryFor(t.db, t.tenant.schema) };
      return installPackage(deps, ctx, Buffer.from(body.package, 'base64'));
    }, () => tenantNamed(req.params.slug)));
  // Profiles required of every resource of a type (issue #15 §4).
  app.get<SlugParams>('/admin/tenants/:slug/profiles', async (req) => {
    const t = await target(req);
    return { requiredProfiles: await requiredProfiles(t.db, t.tenant.schema) };
  });
  app.put<SlugParams>('/admin/tenants/:slug/profiles', async (req) => audited(deps, req, 'required-profiles', req.params.slug,
    async () => {
      const body = jsonObject(req.body);
      onlyFields(body, ['requiredProfiles']);
      const t = await target(req);
      const wanted = body.requiredProfiles;
      if (typeof wanted !== 'object' || wanted === null || Array.isArray(wanted)) {
        throw badRequest('requiredProfiles must be an object of resource types to lists of profile urls', ['requiredProfiles']);
      }
      const store = canonicalStore(t.db, t.tenant.schema);
      const out: Record<string, string[]> = {};
      for (const [type, urls] of Object.entries(wanted as Record<string, unknown>)) {
        if (!t.isType(type)) throw badRequest(`'${type}' is not a resource type`, [`requiredProfiles.${type}`]);
        if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string')) throw badRequest(`requiredProfiles.${type} must be a list of urls`, [`requiredProfiles.${type}`]);
        for (const url of urls as string[]) {
          const sd = await store.structureDefinition(url);
          if (sd?.type !== type) throw unprocessable(`${url} is not a profile of ${type} this tenant holds`, [`requiredProfiles.${type}`]);
        }
        if (urls.length > 0) out[type] = [...new Set(urls as string[])];
      }
      await setRequiredProfiles(t.db, t.tenant.schema, out);
      return { requiredProfiles: out };
    }, () => tenantNamed(req.params.slug)));
  // Data retention (issue #17 §4): the rules, a dry-run report of what a run would take now, and a run now.
  type RuleParams = { Params: { slug: string; name: string } };
  app.get<SlugParams>('/admin/tenants/:slug/retention', async (req) => {
    const t = await target(req);
    return { rules: await listRetentionRules(t.db, t.tenant.schema) };
  });
  app.get<SlugParams>('/admin/tenants/:slug/retention/report', async (req) => {
    const t = await target(req);
    const at = deps.audit.now();
    return { at: at.toISOString(), dryRun: true, rules: await runRetention(deps, t.tenant, at, false) };
  });
  app.post<SlugParams>('/admin/tenants/:slug/retention/run', async (req) => audited(deps, req, 'retention-run', req.params.slug,
    async () => {
      const t = await target(req);
      const at = deps.audit.now();
      const rules = await runRetention(deps, t.tenant, at, true);
      if (!rules) throw conflict('A retention run of this tenant is in progress on another node');
      return { at: at.toISOString(), dryRun: false, rules };
    }, () => tenantNamed(req.params.slug)));
  app.put<RuleParams>('/admin/tenants/:slug/retention/:name', async (req) => audited(deps, req, 'retention-rule', req.params.slug,
    async () => {
      const t = await target(req);
      return putRetentionRule(t.db, t.tenant.schema, checkRule(req.params.name, req.body, t.isType));
    }, () => retentionNamed(req.params.name)));
  app.delete<RuleParams>('/admin/tenants/:slug/retention/:name', async (req, reply) => {
    await audited(deps, req, 'retention-rule-delete', req.params.slug, async () => {
      const t = await target(req);
      if (!(await deleteRetentionRule(t.db, t.tenant.schema, req.params.name))) throw retentionRuleNotFound(req.params.name);
    }, () => retentionNamed(req.params.name));
    return reply.code(204).send();
  });
}
