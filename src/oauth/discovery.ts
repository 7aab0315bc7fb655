/**
 * SMART discovery: `[base]/.well-known/smart-configuration` and the endpoint URLs the CapabilityStatement's oauth-uris
 * extension repeats — https://hl7.org/fhir/smart-app-launch/conformance.html#using-well-known
 * The static part (grants, methods, scopes, capabilities) is data in conformance/smart-configuration.json; the
 * SMART style apps may match (context-style, https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#styling)
 * is data in conformance/smart-style.json.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { issuerFor, smartEndpoints } from '../auth/tokens.js';

const FILE = fileURLToPath(new URL('../../conformance/smart-configuration.json', import.meta.url));
const STYLE_FILE = fileURLToPath(new URL('../../conformance/smart-style.json', import.meta.url));

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

/** The `.well-known/smart-configuration` document of the tenant whose FHIR base this is. */
export function smartConfiguration(fhirBase: string): Record<string, unknown> {
  return { ...smartEndpoints(fhirBase), ...structuredClone(TEMPLATE) };
}

/** The SMART "Styling" fields (smart-app-launch.md §6.3); every one must be a non-empty string. */
const STYLE_FIELDS = ['color_background', 'color_error', 'color_highlight', 'color_modal_backdrop', 'color_success',
  'color_text', 'dim_border_radius', 'dim_font_size', 'dim_spacing_size', 'font_family_body', 'font_family_heading'];

/** Read at import (boot): the served body, and the short hash of exactly that body which versions its URL. */
function loadStyle(): { body: string; version: string } {
  const style = JSON.parse(readFileSync(STYLE_FILE, 'utf8')) as Record<string, unknown>;
  const bad = STYLE_FIELDS.filter((f) => typeof style[f] !== 'string' || style[f] === '');
  if (bad.length > 0) throw new Error(`${STYLE_FILE} lacks the SMART style field(s) ${bad.join(', ')}`);
  const body = JSON.stringify(style);
  return { body, version: crypto.createHash('sha256').update(body).digest('hex').slice(0, 16) };
}

/** The style JSON served at `/auth/<tenant>/smart-style.json`, and its content hash. */
export const SMART_STYLE = loadStyle();

/**
 * smart_style_url of the tenant whose FHIR base this is: absolute, with `?v=<content hash>` so that the URL changes
 * whenever the style does (apps may cache by URL).
 */
export const smartStyleUrl = (fhirBase: string): string => `${issuerFor(fhirBase)}/smart-style.json?v=${SMART_STYLE.version}`;
