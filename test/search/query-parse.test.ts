// Tests parsing of search queries into the AST: names, modifiers, prefixes, escapes, chains, _has, result params — http://hl7.org/fhir/R4/search.html
import t, { type Test } from 'tap';
import { FhirError } from '../../src/errors.js';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import { PageTokens } from '../../src/fhir/page-token.js';
import type { Params } from '../../src/fhir/types.js';
import { parseSearch } from '../../src/search/parse.js';
import { createSearchRegistry } from '../../src/search/registry.js';

const defs = loadDefinitions();
const registry = createSearchRegistry(defs);
const BASE = 'http://hearth.test/fhir/x';
const tokens = new PageTokens('secret');
const px = { registry, defs, base: BASE };

const params = (qs: string): Params => [...new URLSearchParams(qs).entries()];
const parse = (type: string | undefined, qs: string, strict = false) =>
  parseSearch(px, params(qs), { ...(type ? { types: [type] } : {}), strict, defaultCount: 20, maxCount: 1000, pageTokens: tokens });

function rejects(t: Test, type: string | undefined, qs: string, message: string, strict = false) {
  try {
    parse(type, qs, strict);
    t.fail(`${message}: no error`);
  } catch (e) {
    t.ok(e instanceof FhirError && e.status === 400, message);
  }
}

t.test('comma is OR within a value list, repeats are AND, empty values are ignored', async (t) => {
  const q = parse('Patient', 'language=FR,NL&language=EN&name=');
  t.equal(q.conditions.length, 2);
  t.same(q.conditions[0], { kind: 'value', code: 'language', type: 'token', values: [{ kind: 'token', code: 'FR' }, { kind: 'token', code: 'NL' }] });
  t.same(q.applied, [['language', 'FR,NL'], ['language', 'EN'], ['_count', '20']], 'the empty name is not applied');
});

t.test('escapes: \\, \\$ \\| \\\\ are literals; a lone backslash is a 400', async (t) => {
  const q = parse('Patient', `name=${encodeURIComponent('a\\,b,c\\\\d')}`);
  t.same((q.conditions[0] as { values: unknown[] }).values, [{ kind: 'string', text: 'a,b' }, { kind: 'string', text: 'c\\d' }]);
  const tok = parse('Patient', `identifier=${encodeURIComponent('sys\\|x|val\\$1')}`);
  t.same((tok.conditions[0] as { values: unknown[] }).values, [{ kind: 'token', system: 'sys|x', code: 'val$1' }]);
  rejects(t, 'Patient', `name=${encodeURIComponent('a\\b')}`, 'lone backslash → 400');
  rejects(t, 'Patient', `name=${encodeURIComponent('ab\\')}`, 'trailing backslash → 400');
});

t.test('token forms: code, system|code, |code, system|', async (t) => {
  const v = (qs: string) => (parse('Observation', qs).conditions[0] as { values: unknown[] }).values[0];
  t.same(v('code=1234-5'), { kind: 'token', code: '1234-5' });
  t.same(v('code=http://loinc.org|1234-5'), { kind: 'token', system: 'http://loinc.org', code: '1234-5' });
  t.same(v('code=|1234-5'), { kind: 'token', system: null, code: '1234-5' });
  t.same(v('code=http://loinc.org|'), { kind: 'token', system: 'http://loinc.org' });
  rejects(t, 'Observation', 'code=a|b|c', 'two bars → 400');
  rejects(t, 'Patient', 'active=http://x|true', 'boolean takes a bare code');
  rejects(t, 'Patient', 'telecom=phone|555', 'ContactPoint takes a bare value');
  rejects(t, 'Patient', '_id=a|b', '_id takes a bare id');
});

t.test(':of-type needs all three parts and an Identifier parameter', async (t) => {
  const q = parse('Patient', 'identifier:of-type=http://t|MR|123');
  t.same(q.conditions[0], { kind: 'value', code: 'identifier', type: 'token', modifier: 'of-type',
    values: [{ kind: 'token', typeSystem: 'http://t', typeCode: 'MR', code: '123' }] });
  rejects(t, 'Patient', 'identifier:of-type=MR|123', 'two parts → 400');
  rejects(t, 'Patient', 'gender:of-type=a|b|c', 'not an Identifier parameter → 400');
});

t.test('prefixes and precision on number, date and quantity', async (t) => {
  const v = (type: string, qs: string) => (parse(type, qs).conditions[0] as { values: unknown[] }).values[0];
  t.same(v('RiskAssessment', 'probability=100'), { kind: 'number', prefix: 'eq', value: '100', half: '5e-1' });
  t.same(v('RiskAssessment', 'probability=100.00'), { kind: 'number', prefix: 'eq', value: '100.00', half: '5e-3' });
  t.same(v('RiskAssessment', 'probability=1e2'), { kind: 'number', prefix: 'eq', value: '1e2', half: '5e0' });
  t.same(v('RiskAssessment', 'probability=lt0.8'), { kind: 'number', prefix: 'lt', value: '0.8', half: '5e-2' });
  t.same(v('Observation', `value-quantity=${encodeURIComponent('ap5.4|http://unitsofmeasure.org|mg')}`),
    { kind: 'quantity', prefix: 'ap', value: '5.4', half: '5e-2', system: 'http://unitsofmeasure.org', code: 'mg' });
  t.same(v('Observation', 'value-quantity=5.4||mg'), { kind: 'quantity', prefix: 'eq', value: '5.4', half: '5e-2', system: null, code: 'mg' });
  const d = v('Patient', 'birthdate=ge2013-01') as { prefix: string; lo: Date; hi: Date };
  t.equal(d.prefix, 'ge');
  t.equal(d.lo.toISOString(), '2013-01-01T00:00:00.000Z');
  t.equal(d.hi.toISOString(), '2013-02-01T00:00:00.000Z');
  const tz = v('Patient', `birthdate=${encodeURIComponent('2013-01-14T10:00+01:00')}`) as { lo: Date; hi: Date };
  t.equal(tz.lo.toISOString(), '2013-01-14T09:00:00.000Z', 'offset normalised to UTC');
  t.equal(tz.hi.toISOString(), '2013-01-14T09:01:00.000Z', 'minute precision');
  const plus = v('Patient', 'birthdate=2013-01-14T10:00+01:00') as { lo: Date };
  t.equal(plus.lo.toISOString(), '2013-01-14T09:00:00.000Z', 'an unencoded + (a space) is read as +');
  for (const bad of ['birthdate=2013-1', 'birthdate=13', 'birthdate=2013-01-14T10', 'birthdate=xx2013', 'birthdate=2013-13-01']) {
    rejects(t, 'Patient', bad, `${bad} → 400`);
  }
  for (const bad of ['probability=abc', 'probability=1..2', 'probability=gt']) rejects(t, 'RiskAssessment', bad, `${bad} → 400`);
  rejects(t, 'Observation', 'value-quantity=5.4|mg', 'quantity with two parts → 400');
});

t.test('modifiers: supported ones parse, unsupported ones are a 400 even when lenient', async (t) => {
  t.equal((parse('Patient', 'name:exact=Eve').conditions[0] as { modifier: string }).modifier, 'exact');
  t.same(parse('Patient', 'name:missing=true').conditions[0], { kind: 'missing', code: 'name', type: 'string', missing: true });
  rejects(t, 'Patient', 'name:missing=maybe', ':missing needs true|false');
  rejects(t, 'Patient', 'name:text=x', 'string :text is unsupported');
  rejects(t, 'Patient', 'birthdate:exact=2000', ':exact on a date');
  rejects(t, 'Observation', 'component-code-value-quantity:missing=true', ':missing on composite');
  rejects(t, 'Patient', 'name:foo:bar=x', 'two modifiers');
  const typed = parse('Observation', 'subject:Patient=23').conditions[0];
  t.same(typed, { kind: 'value', code: 'subject', type: 'reference', values: [{ kind: 'reference', type: 'Patient', id: '23' }] });
  rejects(t, 'Observation', 'subject:Medication=23', 'type modifier outside the targets');
  t.same(parse('Observation', 'subject:identifier=http://s|1').conditions[0], { kind: 'value', code: 'subject', type: 'reference',
    modifier: 'identifier', values: [{ kind: 'token', system: 'http://s', code: '1' }] });
});

t.test('reference values: id, Type/id, absolute on our base, foreign URL, versions', async (t) => {
  const v = (value: string) => (parse('Observation', `subject=${encodeURIComponent(value)}`).conditions[0] as { values: unknown[] }).values[0];
  t.same(v('123'), { kind: 'reference', id: '123' });
  t.same(v('Patient/123'), { kind: 'reference', type: 'Patient', id: '123' });
  t.same(v(`${BASE}/Patient/123`), { kind: 'reference', type: 'Patient', id: '123' });
  t.same(v('Patient/123/_history/2'), { kind: 'reference', type: 'Patient', id: '123' });
  t.same(v('http://other.org/fhir/Patient/9'), { kind: 'reference', url: 'http://other.org/fhir/Patient/9' });
});

t.test('chains to any depth and _has, nested', async (t) => {
  const q = parse('DiagnosticReport', 'subject:Patient.organization.name=acme');
  t.same(q.conditions[0], { kind: 'chain', code: 'subject', targets: ['Patient'], next: { kind: 'chain', code: 'organization',
    targets: ['Organization'], next: { kind: 'value', code: 'name', type: 'string', values: [{ kind: 'string', text: 'acme' }] } } });
  const untyped = parse('Observation', 'subject.name=peter').conditions[0] as { targets: string[] };
  t.same(untyped.targets, ['Patient', 'Location'], 'untyped chain: the targets that define name (Group and Device do not)');
  const has = parse('Patient', '_has:Observation:patient:_has:AuditEvent:entity:agent=x').conditions[0];
  t.same(has, { kind: 'has', source: 'Observation', code: 'patient', next: { kind: 'has', source: 'AuditEvent', code: 'entity',
    next: { kind: 'value', code: 'agent', type: 'reference', values: [{ kind: 'reference', id: 'x' }] } } });
  rejects(t, 'Patient', '_has:Observation:patient=x', '_has missing a part');
  rejects(t, 'Patient', '_has:Observation:code:status=final', '_has through a non-reference');
  rejects(t, 'Patient', '_has:Nope:patient:code=x', '_has with an unknown type');
  rejects(t, 'Observation', 'code.name=x', 'chain through a non-reference');
  rejects(t, 'Observation', 'subject:identifier.name=x', ':identifier cannot be chained');
});

t.test('unknown parameters: lenient drops them from the links; strict names each', async (t) => {
  const q = parse('Patient', 'foo=1&Name=x&gender=male&_filter=x');
  t.same(q.ignored, ['foo', 'Name', '_filter'], 'names are case-sensitive; _filter is unsupported');
  t.same(q.applied, [['gender', 'male'], ['_count', '20']]);
  try {
    parse('Patient', 'foo=1&bar=2', true);
    t.fail('strict must reject');
  } catch (e) {
    t.equal((e as FhirError).status, 400);
    t.same((e as FhirError).issues.map((i) => i.expression?.[0]), ['foo', 'bar'], 'one issue per offending parameter');
  }
  rejects(t, 'Patient', '_query=foo', '_query is a 400 in any mode');
});

t.test('result parameters', async (t) => {
  const q = parse('Patient', '_sort=-birthdate,name,_id&_count=5000&_total=none&_summary=true&_elements=name,Patient.gender');
  t.same(q.sort, [{ code: 'birthdate', descending: true }, { code: 'name', descending: false }, { code: '_id', descending: false }]);
  t.equal(q.count, 1000, '_count clamped to the maximum');
  t.equal(q.total, 'none');
  t.equal(q.summary, 'true');
  t.same(q.elements, ['name', 'Patient.gender']);
  t.same(parse('Patient', '_sort=nope,name').applied, [['_sort', 'name'], ['_count', '20']], 'unknown sort key dropped (lenient)');
  rejects(t, 'Patient', '_sort=nope', 'unknown sort key under strict', true);
  rejects(t, 'Patient', '_sort=,', 'bad _sort syntax');
  rejects(t, 'Observation', '_sort=component-code-value-quantity', 'composite cannot sort');
  for (const bad of ['_count=-1', '_count=x', '_total=some', '_summary=maybe']) rejects(t, 'Patient', bad, `${bad} → 400`);
  const inc = parse('Observation', '_include=Observation:subject:Patient&_include:iterate=Patient:organization&_revinclude=Provenance:target&_include=*');
  t.same(inc.include, [{ source: 'Observation', param: 'subject', iterate: false, target: 'Patient' },
    { source: 'Patient', param: 'organization', iterate: true }, { source: '*', param: '*', iterate: false }]);
  t.same(inc.revinclude, [{ source: 'Provenance', param: 'target', iterate: false }]);
  t.same(parse('Patient', '_include:recurse=Patient:organization').include[0]!.iterate, true, ':recurse is :iterate');
  rejects(t, 'Observation', '_include=Observation:code', 'include through a non-reference');
  rejects(t, 'Observation', '_include=Observation', 'include without a param');
  rejects(t, 'Observation', '_include=Observation:subject:Medication', 'include target not allowed');
  rejects(t, 'Patient', '_summary=text&_include=Patient:organization', '_summary=text with _include');
  t.same(parse('Patient', '_contained=true').ignored, ['_contained=true'], '_contained=true unsupported → ignored');
  rejects(t, 'Patient', '_contained=maybe', '_contained bad value');
});

t.test('system search: _type picks the types; parameters must exist on all of them', async (t) => {
  const q = parse(undefined, '_type=Condition,Observation&code=x&_id=1');
  t.same(q.types, ['Condition', 'Observation']);
  t.equal(q.conditions.length, 2);
  rejects(t, undefined, '_type=Patient,Observation&code=x', 'code is not a Patient parameter → 400');
  rejects(t, undefined, '_type=Nope', 'unknown type → 400');
  t.equal(parse(undefined, '_id=1').types.length, defs.resourceTypes.size, 'no _type: every type');
  rejects(t, undefined, 'code=x', 'without _type only Resource-level parameters apply');
});

t.test('page tokens: tampered → 410', async (t) => {
  const good = tokens.encode({ d: 'n', k: ['a', 1] });
  t.same(parse('Patient', `_page=${good}`).page, { d: 'n', k: ['a', 1] });
  try {
    parse('Patient', `_page=${good.slice(0, -2)}xx`);
    t.fail('tampered token accepted');
  } catch (e) {
    t.equal((e as FhirError).status, 410);
  }
});
