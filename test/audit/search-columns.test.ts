// AuditEvent search parsed by the ordinary parser and compiled to the audit table's columns: the exact {text, values}
// per parameter kind, unknown parameters, and injected text only ever a bound value — http://hl7.org/fhir/R4/auditevent.html#search
import t from 'tap';
import { type AuditSearchOptions, parseAuditQuery } from '../../src/audit/search.js';
import { toQuery } from '../../src/db/sql.js';
import { loadDefinitions } from '../../src/fhir/definitions.js';
import { PageTokens } from '../../src/fhir/page-token.js';
import { createSearchRegistry } from '../../src/search/registry.js';

const defs = loadDefinitions();
const options: AuditSearchOptions = { base: 'http://b/fhir/t', strict: false, defaultCount: 20, maxCount: 100,
  tokens: new PageTokens('x'), registry: createSearchRegistry(defs), defs };

function compile(qs: string, o: Partial<AuditSearchOptions> = {}) {
  const q = parseAuditQuery([...new URLSearchParams(qs).entries()], { ...options, ...o });
  return q.where.map((w) => {
    const { text, values } = toQuery(w);
    return { text, values: values.map((v) => (v instanceof Date ? v.toISOString() : v)) };
  });
}

/** The status of the FhirError a call throws (undefined when it does not throw). */
function statusOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    return (e as { status?: number }).status;
  }
  return undefined;
}

const keys = (col: string) => `EXISTS (SELECT 1 FROM unnest("${col}") k WHERE k = ANY($1::text[]) OR k LIKE ANY($2::text[]))`;

t.test('tokens: keys system|code, |code, code, system|', async (t) => {
  t.same(compile('type=http://s|rest,|rest,rest,http://s|'), [{ text: keys('type'),
    values: [['http://s|rest', '|rest', 'rest', 'http://s|'], ['%|rest', 'http://s|%']] }]);
  t.same(compile('agent:identifier=a%b_c'), [{ text: keys('agent_identifier'), values: [['a%b_c'], ['%|a\\%b\\_c']] }],
    'LIKE metacharacters escaped');
  t.same(compile('action=http://hl7.org/fhir/audit-event-action|C&outcome=4'), [
    { text: '"action" = ANY($1::text[])', values: [['C']] }, { text: '"outcome" = ANY($1::text[])', values: [['4']] }]);
});

t.test('references: Type/id, a bare id for the target types, this base stripped', async (t) => {
  t.same(compile('patient=p1,http://b/fhir/t/Patient/p2/_history/3'),
    [{ text: '"patient" && $1::text[]', values: [['Patient/p1', 'Patient/p2']] }]);
  t.same(compile('entity=Observation/o1'), [{ text: '"entity" && $1::text[]', values: [['Observation/o1']] }]);
  t.same(compile('source=http://b/fhir/t'), [{ text: '"source" = ANY($1::text[])', values: [['http://b/fhir/t']] }]);
  t.equal(statusOf(() => compile("patient=Patient/p1'--")), 400, 'injection attempt is a 400');
  t.equal(statusOf(() => compile('agent=http://elsewhere/Patient/1')), 400, 'another server\'s reference');
});

t.test('address: starts-with, :exact; other modifiers refused', async (t) => {
  t.same(compile('address=127.0'), [{ text: '(EXISTS (SELECT 1 FROM unnest("address") a WHERE lower(a) LIKE $1))', values: ['127.0%'] }]);
  t.same(compile('address:exact=127.0.0.1'), [{ text: '($1 = ANY("address"))', values: ['127.0.0.1'] }]);
  t.equal(statusOf(() => compile('address:contains=0')), 400);
});

t.test('dates, sort, count and paging parameters', async (t) => {
  const [date] = compile('date=2024');
  t.match(date!.text, /"recorded"/);
  t.same(date!.values, ['2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']);
  t.equal(statusOf(() => compile('date=yesterday')), 400);
  t.equal(statusOf(() => compile('_sort=outcome')), 400);
  const q = parseAuditQuery([['_sort', 'date'], ['_count', '500'], ['action', 'R']], options);
  t.same({ descending: q.descending, count: q.count, used: q.used }, { descending: false, count: 100,
    used: [['_sort', 'date'], ['action', 'R']] });
});

t.test('parameters without a column are unknown: ignored, or 400 under strict handling', async (t) => {
  const q = parseAuditQuery([['agent-name', 'x'], ['bogus', '1'], ['type:text', 'x'], ['action', '']], options);
  t.same(q.where, []);
  t.same(q.used, []);
  t.equal(q.warnings.length, 3);
  t.equal(statusOf(() => compile('bogus=1', { strict: true })), 400);
  t.same(compile('bogus=', { strict: true }), [], 'an empty value is no parameter');
});
