/** Users with roles and their access tokens, as an app the user signed in to would hold them (issue #16 §1). */
import { createGrant } from '../../src/auth/grants.js';
import { mintAccessToken } from '../../src/auth/tokens.js';
import { findTenant } from '../../src/storage/tenants.js';
import type { TestServer } from '../helpers/server.js';
import { ADMIN_TOKEN } from '../helpers/smart.js';

export const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Creates a user through the admin API (roles: a list, or null for an unmanaged user); returns its id. */
export async function addUser(s: TestServer, username: string, fhirUser: string, roles: string[] | null): Promise<string> {
  const res = await s.request('POST', `/admin/tenants/${s.slug}/users`, { headers: ADMIN,
    body: { username, password: 'correct horse battery', fhirUser, ...(roles ? { roles } : {}) } });
  if (res.statusCode !== 201) throw new Error(`user ${username}: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

/** An access token of an app granted `scope` by the user (the grant names the user, as /authorize makes it). */
export async function userToken(s: TestServer, userId: string, fhirUser: string, scope = 'user/*.cruds'): Promise<Record<string, string>> {
  const tenant = (await findTenant(s.deps.db, s.slug))!;
  const grant = await createGrant(s.deps.db, tenant.schema, { clientId: 'test-app', scope, context: { fhirUser }, userId }, s.deps.auth.now());
  const { token } = await mintAccessToken(s.deps.auth, s.url, grant, 3600, userId);
  return { authorization: `Bearer ${token}` };
}
