// Tests the search SQL compilers: the exact {text, values} per parameter type, and that injected text is only ever a bound value — http://hl7.org/fhir/R4/search.html
import t from 'tap';
import { toQuery } from '../../src/db/sql.js';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import { PageTokens } from '../../src/fhir/page-token.js';
import { compileAll } from '../../src/search/compile/index.js';
import { whereClause } from '../../src/search/execute.js';
import { countMatches } from '../../src/search/total.js';
import { parseSearch } from '../../src/search/parse.js';
import { createSearchRegistry } from '../../src/search/registry.js';
import { keysetCondition, orderBy, sortColumns } from '../../src/search/sort.js';

const defs = loadDefinitions();
const registry = createSearchRegistry(defs);
const cx = { schema: 't_x', registry, defs };
const S = '"t_x"';

function compile(type: string, qs: string) {
  const q = parseSearch({ registry, defs, base: 'http://b' }, [...new URLSearchParams(qs).entries()],
    { types: [type], strict: true, defaultCount: 20, maxCount: 100, pageTokens: new PageTokens('x') });
  const { text, values } = toQuery(compileAll(cx, q.conditions, { depth: 0, type }));
  return { text, values: values.map((v) => (v instanceof Date ? v.toISOString() : v)) };
}

const exists = (table: string, where: string) =>
  `EXISTS (SELECT 1 FROM ${S}.${table} i WHERE i.rid = r.rid AND i.type = $1 AND i.param = $2 AND ${where})`;

t.test('string: normalised starts-with, :exact, :contains, :missing', async (t) => {
  t.same(compile('Patient', 'name=Ève'), { text: exists('idx_string', 'left(i.norm, 256) LIKE $3'), values: ['Patient', 'name', 'eve%'] });
  t.same(compile('Patient', 'family:exact=Ève'), { text: exists('idx_string', 'i.exact = $3'), values: ['Patient', 'family', 'Ève'] });
  t.same(compile('Patient', 'given:contains=EVE,ann'), { text: exists('idx_string', '(i.norm LIKE $3 OR i.norm LIKE $4)'),
    values: ['Patient', 'given', '%eve%', '%ann%'] });
  t.same(compile('Patient', 'name:missing=true'), {
    text: `NOT EXISTS (SELECT 1 FROM ${S}.idx_string i WHERE i.rid = r.rid AND i.type = $1 AND i.param = $2)`, values: ['Patient', 'name'] });
});

t.test('values longer than the 256-character index key: the key through the index, then the whole value (issue #12 §8)', async (t) => {
  const long = 'é'.repeat(300);
  t.same(compile('Patient', `family=${long}`), { text: exists('idx_string', '(left(i.norm, 256) = $3 AND i.norm LIKE $4)'),
    values: ['Patient', 'family', 'e'.repeat(256), `${'e'.repeat(300)}%`] });
  t.same(compile('Observation', `code=${long}`), { text: exists('idx_token', '(left(i.code_ci, 256) = $3 AND i.code_ci = $4)'),
    values: ['Observation', 'code', 'é'.repeat(256), long] });
  t.same(compile('ValueSet', `url=http://x/${'a'.repeat(255)}`), { text: exists('idx_uri', '(left(i.uri, 256) = $3 AND i.uri = $4)'),
    values: ['ValueSet', 'url', `http://x/${'a'.repeat(247)}`, `http://x/${'a'.repeat(255)}`] });
  t.same(compile('ValueSet', `url=${'😀'.repeat(255)}`), { text: exists('idx_uri', 'left(i.uri, 256) = $3'),
    values: ['ValueSet', 'url', '😀'.repeat(255)] }, 'keys count code points, as left() does');
});

t.test('token: forms, case-insensitive codes, :not, :text, :of-type; _id exact', async (t) => {
  t.same(compile('Observation', 'code=http://loinc.org|AbC'), { text: exists('idx_token', '(left(i.system, 256) = $3 AND left(i.code_ci, 256) = $4)'),
    values: ['Observation', 'code', 'http://loinc.org', 'abc'] });
  t.same(compile('Observation', 'code=|a,b'), { text: exists('idx_token', '((i.system IS NULL AND left(i.code_ci, 256) = $3) OR left(i.code_ci, 256) = $4)'),
    values: ['Observation', 'code', 'a', 'b'] });
  t.same(compile('Observation', 'code=http://loinc.org|'), { text: exists('idx_token', 'left(i.system, 256) = $3'),
    values: ['Observation', 'code', 'http://loinc.org'] });
  t.same(compile('Observation', 'code:not=x'), { text: `NOT ${exists('idx_token', 'left(i.code_ci, 256) = $3')}`, values: ['Observation', 'code', 'x'] });
  t.same(compile('Observation', 'code:text=Body Mass'), { text: exists('idx_token', '(i.display LIKE $3 OR i.display LIKE $4)'),
    values: ['Observation', 'code', 'body mass%', '% body mass%'] });
  t.same(compile('Patient', 'identifier:of-type=s|MR|V1'), {
    text: exists('idx_token', '(i.type_system = $3 AND i.type_code = $4 AND left(i.code_ci, 256) = $5)'), values: ['Patient', 'identifier', 's', 'MR', 'v1'] });
  t.same(compile('Patient', '_id=Ab'), { text: 'r.id = $1', values: ['Ab'] });
  t.same(compile('Patient', '_id=a,b'), { text: 'r.id = ANY($1)', values: [['a', 'b']] });
});

t.test('date: the nine prefixes as range comparisons; _lastUpdated on the resource column', async (t) => {
  const lo = '1995-10-02T00:00:00.000Z', hi = '1995-10-03T00:00:00.000Z';
  const eq = '(i.lo >= $3 AND i.lo < $4 AND i.hi <= $5)';
  const cases: [string, string, string[]][] = [
    ['', eq, [lo, hi, hi]], ['ne', `NOT ${eq}`, [lo, hi, hi]], ['gt', 'i.hi > $3', [hi]], ['lt', 'i.lo < $3', [lo]],
    ['ge', `(i.hi > $3 OR (i.lo >= $4 AND i.lo < $5 AND i.hi <= $6))`, [hi, lo, hi, hi]],
    ['le', `(i.lo < $3 OR (i.lo >= $4 AND i.lo < $5 AND i.hi <= $6))`, [lo, lo, hi, hi]],
    ['sa', 'i.lo >= $3', [hi]], ['eb', 'i.hi <= $3', [lo]],
  ];
  for (const [prefix, where, values] of cases) {
    t.same(compile('Patient', `birthdate=${prefix}1995-10-02`), { text: exists('idx_date', where), values: ['Patient', 'birthdate', ...values] }, prefix || 'eq');
  }
  const ap = compile('Patient', 'birthdate=ap1995-10-02');
  t.equal(ap.text, exists('idx_date', '(i.lo < $3 AND i.hi > $4)'), 'ap overlaps the widened range');
  t.ok((ap.values[2] as string) > hi && (ap.values[3] as string) < lo, 'ap widens both ends');
  t.same(compile('Patient', '_lastUpdated=gt2010-10-01'), { text: 'r.last_updated >= $1', values: ['2010-10-02T00:00:00.000Z'] });
  t.same(compile('Patient', '_lastUpdated=2010-10-01'), { text: '(r.last_updated >= $1 AND r.last_updated < $2)',
    values: ['2010-10-01T00:00:00.000Z', '2010-10-02T00:00:00.000Z'] });
});

t.test('number and quantity: precision range for eq, exact value otherwise, units', async (t) => {
  t.same(compile('RiskAssessment', 'probability=100'), {
    text: exists('idx_number', '(i.value >= $3::numeric - $4::numeric AND i.value < $5::numeric + $6::numeric)'),
    values: ['RiskAssessment', 'probability', '100', '5e-1', '100', '5e-1'] });
  t.same(compile('RiskAssessment', 'probability=gt0.8'), { text: exists('idx_number', 'i.value > $3::numeric'), values: ['RiskAssessment', 'probability', '0.8'] });
  t.same(compile('Observation', 'value-quantity=le5.4|http://unitsofmeasure.org|mg'), {
    text: exists('idx_quantity', '(i.value <= $3::numeric AND i.system = $4 AND left(i.code, 256) = $5)'),
    values: ['Observation', 'value-quantity', '5.4', 'http://unitsofmeasure.org', 'mg'] });
  t.same(compile('Observation', 'value-quantity=lt5.4||mg'), {
    text: exists('idx_quantity', '(i.value < $3::numeric AND (i.code = $4 OR i.unit = $5))'), values: ['Observation', 'value-quantity', '5.4', 'mg', 'mg'] });
});

t.test('uri: exact, :below, :above, url|version', async (t) => {
  t.same(compile('ValueSet', 'url=http://x/vs'), { text: exists('idx_uri', 'left(i.uri, 256) = $3'), values: ['ValueSet', 'url', 'http://x/vs'] });
  t.same(compile('ValueSet', 'url:below=http://acme.org/fhir_'), { text: exists('idx_uri', 'left(i.uri, 256) LIKE $3'), values: ['ValueSet', 'url', 'http://acme.org/fhir\\_%'] });
  t.same(compile('ValueSet', 'url:above=http://acme.org/fhir/a/b'), { text: exists('idx_uri', 'starts_with($3::text, i.uri)'), values: ['ValueSet', 'url', 'http://acme.org/fhir/a/b'] });
  t.same(compile('ValueSet', 'url:below=urn:oid:1.2'), { text: exists('idx_uri', 'left(i.uri, 256) = $3'), values: ['ValueSet', 'url', 'urn:oid:1.2'] }, 'URNs are exact');
  t.match(compile('ValueSet', 'url=http://x|1.0').text, /left\(i\.uri, 256\) = \$3 AND i\.version = \$4.*i\.param = \$9 AND i\.code = \$10/);
});

t.test('reference: Type/id, id, url, :identifier; chains and _has join through idx_reference', async (t) => {
  t.same(compile('Observation', 'subject=Patient/1'), { text: exists('idx_reference', '(i.ref_type = $3 AND i.ref_id = $4)'), values: ['Observation', 'subject', 'Patient', '1'] });
  t.same(compile('Observation', 'subject=1'), { text: exists('idx_reference', 'i.ref_id = $3'), values: ['Observation', 'subject', '1'] });
  t.same(compile('Observation', 'subject=http://o.org/Patient/1'), { text: exists('idx_reference', 'left(i.url, 256) = $3'), values: ['Observation', 'subject', 'http://o.org/Patient/1'] });
  t.same(compile('Observation', 'subject:identifier=s|1'), { text: exists('idx_token', '(left(i.system, 256) = $3 AND left(i.code_ci, 256) = $4)'), values: ['Observation', 'subject:identifier', 's', '1'] });
  t.same(compile('Observation', 'subject:Patient.name=peter'), {
    // one uncorrelated semi-join per target type (issue #23 §4)
    text: `r.rid IN (SELECT i.rid FROM ${S}.idx_reference i JOIN ${S}.resource r1 ON r1.type = $1 AND r1.id = i.ref_id WHERE i.type = $2 AND i.param = $3 AND i.ref_type = $4 AND NOT r1.deleted AND EXISTS (SELECT 1 FROM ${S}.idx_string i1 WHERE i1.rid = r1.rid AND i1.type = $5 AND i1.param = $6 AND left(i1.norm, 256) LIKE $7))`,
    values: ['Patient', 'Observation', 'subject', 'Patient', 'Patient', 'name', 'peter%'] });
  t.same(compile('Condition', 'patient.identifier=s|1').text.match(/UNION ALL/g)?.length, 1,
    'a chain over two target types (Patient, Group) is two semi-joins, never an OR inside one EXISTS');
  t.same(compile('Patient', '_has:Observation:patient:code=1234-5'), {
    text: `EXISTS (SELECT 1 FROM ${S}.idx_reference i JOIN ${S}.resource r1 ON r1.rid = i.rid WHERE i.type = $1 AND i.param = $2 AND i.ref_type = $3 AND i.ref_id = r.id AND NOT r1.deleted AND EXISTS (SELECT 1 FROM ${S}.idx_token i1 WHERE i1.rid = r1.rid AND i1.type = $4 AND i1.param = $5 AND left(i1.code_ci, 256) = $6))`,
    values: ['Observation', 'patient', 'Patient', 'Observation', 'code', '1234-5'] });
});

t.test('composite: every component on the same element row', async (t) => {
  t.same(compile('Observation', 'component-code-value-quantity=http://loinc.org|8480-6$lt60'), {
    text: exists('idx_composite', '(i.parts @> $3::jsonb AND EXISTS (SELECT 1 FROM jsonb_to_recordset(i.parts -> 0) AS p0(system text, code text, code_ci text, display text) WHERE (left(p0.system, 256) = $4 AND left(p0.code_ci, 256) = $5)) AND EXISTS (SELECT 1 FROM jsonb_to_recordset(i.parts -> 1) AS p1(system text, code text, unit text, value numeric, lo numeric, hi numeric) WHERE p1.value < $6::numeric))'),
    values: ['Observation', 'component-code-value-quantity', '[[{"code_ci":"8480-6","system":"http://loinc.org"}]]', 'http://loinc.org', '8480-6', '60'] });
});

t.test('counts: a lone index condition counts its index rows; anything else counts resources', async (t) => {
  const parse = (qs: string, types = ['Observation']) => parseSearch({ registry, defs, base: 'http://b' }, [...new URLSearchParams(qs).entries()],
    { types, strict: true, defaultCount: 20, maxCount: 100, pageTokens: new PageTokens('x') });
  const statement = async (qs: string) => {
    let seen = '';
    const db = { transaction: async (fn: (tx: unknown) => unknown) => fn({ query: async (f: Parameters<typeof toQuery>[0]) => { seen = toQuery(f).text; return [{ n: 0 }]; } }) };
    const q = parse(qs);
    await countMatches(db as never, undefined, cx, q, whereClause(cx, q.types, q.conditions), 30000);
    return seen;
  };
  t.equal(await statement('code=x'), `SELECT count(DISTINCT i.rid) AS n FROM ${S}.idx_token i WHERE i.type = $1 AND i.param = $2 AND left(i.code_ci, 256) = $3`);
  t.match(await statement('code:not=x'), /^SELECT count\(\*\) AS n FROM "t_x"\.resource r WHERE/, ':not needs the resources');
  t.match(await statement('code=x&status=final'), /^SELECT count\(\*\)/, 'two conditions');
});

t.test('system search: type-specific conditions per type, Resource-level ones once', async (t) => {
  const q = parseSearch({ registry, defs, base: 'http://b' }, [['_type', 'Condition,Observation'], ['code', 'x'], ['_id', 'a']],
    { strict: true, defaultCount: 20, maxCount: 100, pageTokens: new PageTokens('x') });
  const { text, values } = toQuery(whereClause(cx, q.types, q.conditions));
  t.equal(text, `r.type = ANY($1) AND NOT r.deleted AND r.id = $2 AND ((r.type = $3 AND ${exists('idx_token', 'left(i.code_ci, 256) = $6').replace('$1', '$4').replace('$2', '$5')}) OR (r.type = $7 AND ${exists('idx_token', 'left(i.code_ci, 256) = $10').replace('$1', '$8').replace('$2', '$9')}))`);
  t.same(values, [['Condition', 'Observation'], 'a', 'Condition', 'Condition', 'code', 'x', 'Observation', 'Observation', 'code', 'x']);
});

t.test('sort and keyset: default order, cursor conditions bind the cursor values', async (t) => {
  const columns = sortColumns(cx, ['Patient'], []);
  t.equal(toQuery(orderBy(columns, false)).text, 'q.s0 DESC, q.s1 ASC, q.s2 ASC');
  t.equal(toQuery(orderBy(columns, true)).text, 'q.s0 ASC, q.s1 DESC, q.s2 DESC');
  const next = toQuery(keysetCondition(columns, { d: 'n', k: ['2024-01-01 00:00:00+00', 'abc', '7', '_default'] }, '_default'));
  t.equal(next.text, 'q.s0 <= $1::timestamptz AND ((q.s0 < $2::timestamptz) OR (q.s0 = $3::timestamptz AND q.s1 > $4::text) OR (q.s0 = $5::timestamptz AND q.s1 = $6::text AND q.s2 > $7::bigint))');
  t.same(next.values, ['2024-01-01 00:00:00+00', '2024-01-01 00:00:00+00', '2024-01-01 00:00:00+00', 'abc', '2024-01-01 00:00:00+00', 'abc', '7']);
  const byName = sortColumns(cx, ['Patient'], [{ code: 'name', descending: false }]);
  t.equal(toQuery(byName[0]!.expr).text, `(SELECT min(i.norm) FROM ${S}.idx_string i WHERE i.rid = r.rid AND i.type = $1 AND i.param = $2 AND NOT i.word)`);
  const nulls = toQuery(keysetCondition(byName, { d: 'n', k: [null, '3', 'name'] }, 'name'));
  t.equal(nulls.text, '((FALSE) OR (q.s0 IS NULL AND q.s1 > $1::bigint))', 'after a null key only nulls with a later row id follow');
  t.throws(() => keysetCondition(byName, { d: 'n', k: ['a'] }, 'name'), 'a cursor of another length → 400');
  t.throws(() => keysetCondition(byName, { d: 'n', k: ['a', '3', '-name'] }, 'name'), 'a cursor of another order → 400');
});

t.test('injection attempts through every parameter type stay bound values', async (t) => {
  const evil = "x' OR 1=1; DROP TABLE resource; --";
  const e = encodeURIComponent(evil);
  const cases: [string, string][] = [
    ['Patient', `name=${e}`], ['Patient', `name:exact=${e}`], ['Patient', `name:contains=${e}`],
    ['Observation', `code=${encodeURIComponent(`${evil}|${evil}`)}`], ['Observation', `code:text=${e}`], ['Observation', `code:not=${e}`],
    ['Patient', `identifier:of-type=${encodeURIComponent(`${evil}|${evil}|${evil}`)}`], ['Patient', `_id=${e}`],
    ['Observation', `subject=${e}`], ['Observation', `subject:identifier=${e}`], ['Observation', `subject:Patient.name=${e}`],
    ['Patient', `_has:Observation:patient:code=${e}`], ['ValueSet', `url=${e}`], ['ValueSet', `url:below=${e}`], ['ValueSet', `url:above=${e}`],
    ['Observation', `value-quantity=${encodeURIComponent(`5|${evil}|${evil}`)}`],
    ['Observation', `component-code-value-quantity=${encodeURIComponent(`${evil}$5`)}`], ['Patient', `_content=${e}`], ['Patient', `_text=${e}`],
  ];
  for (const [type, qs] of cases) {
    const { text, values } = compile(type, qs);
    t.notOk(text.includes('DROP') || text.includes("'x"), `${type}?${qs.split('=')[0]}: no input in the SQL text`);
    t.ok(values.some((v) => typeof v === 'string' && v.toLowerCase().includes('drop table')), `${type}?${qs.split('=')[0]}: input bound as a value`);
  }
  for (const [type, qs] of [['Patient', `birthdate=${e}`], ['RiskAssessment', `probability=${e}`], ['Observation', `value-quantity=${e}`]]) {
    t.throws(() => compile(type!, qs!), `${qs!.split('=')[0]}: not a date/number → 400 before any SQL`);
  }
});
