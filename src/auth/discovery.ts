/**
 * SMART discovery: `[base]/.well-known/smart-configuration` and the endpoint URLs the CapabilityStatement's oauth-uris
 * extension repeats — https://hl7.org/fhir/smart-app-launch/conformance.html#using-well-known
 * The static part (grants, methods, scopes, capabilities) is data in conformance/smart-configuration.json.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { issuerFor } from './tokens.js';

const FILE = fileURLToPath(new URL('../../conformance/smart-configuration.json', import.meta.url));

interface Template {
  grant_types_supported: string[];
  code_challenge_methods_supported: string[];
  capabilities: string[];
  [field: string]: unknown;
}

/** Read at import (boot): a malformed template fails the start, not a request. */
function load(): Template {
  const t = JSON.parse(readFileSync(FILE, 'utf8')) as Template;
  const required = ['authorization_code', 'client_credentials'];
  if (!required.every((g) => t.grant_types_supported?.includes(g)) || !Array.isArray(t.capabilities)
    || !t.code_challenge_methods_supported?.includes('S256') || t.code_challenge_methods_supported.includes('plain')) {
    throw new Error(`${FILE} lacks a required SMART field (smart-app-launch.md §1.2)`);
  }
  return t;
}

const TEMPLATE = load();

/** The absolute endpoint URLs of a tenant's authorization server (§1.5), from its FHIR base. */
export interface SmartEndpoints {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint: string;
  token_endpoint: string;
  introspection_endpoint: string;
  revocation_endpoint: string;
}

export function smartEndpoints(fhirBase: string): SmartEndpoints {
  const issuer = issuerFor(fhirBase);
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/introspect`,
    revocation_endpoint: `${issuer}/revoke`,
  };
}

/** The `.well-known/smart-configuration` document of the tenant whose FHIR base this is. */
export function smartConfiguration(fhirBase: string): Record<string, unknown> {
  return { ...smartEndpoints(fhirBase), ...structuredClone(TEMPLATE) };
}
