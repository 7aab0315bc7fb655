// Tests the terminology operations over the R4 core content and a tenant's own CodeSystems, ValueSets and ConceptMaps
// (issue #15 §6) — http://hl7.org/fhir/R4/terminology-service.html
import t, { type Test } from 'tap';
import { type TestServer, startServer } from '../helpers/server.js';

const CS = 'http://acme.org/cs/findings';

/** A small hierarchy: A ⊃ A1 ⊃ A11, A ⊃ A2 (retired), B (notSelectable) ⊃ B1, with a colour property. */
const codeSystem = {
  resourceType: 'CodeSystem', url: CS, version: '2', name: 'AcmeFindings', status: 'active', content: 'complete',
  caseSensitive: true, property: [{ code: 'colour', type: 'code' }, { code: 'status', type: 'code' }, { code: 'notSelectable', type: 'boolean' }],
  concept: [
    { code: 'A', display: 'Alpha finding', definition: 'The first', concept: [
      { code: 'A1', display: 'Alpha one', property: [{ code: 'colour', valueCode: 'red' }],
        designation: [{ language: 'de', value: 'Alpha eins' }], concept: [{ code: 'A11', display: 'Alpha one one', property: [{ code: 'colour', valueCode: 'blue' }] }] },
      { code: 'A2', display: 'Alpha two', property: [{ code: 'status', valueCode: 'retired' }] }] },
    { code: 'B', display: 'Beta group', property: [{ code: 'notSelectable', valueBoolean: true }], concept: [{ code: 'B1', display: 'Beta one' }] },
  ],
};

const codes = (vs: { expansion?: { contains?: { code: string }[] } }) => (vs.expansion?.contains ?? []).map((c) => c.code);
const param = (p: { parameter?: { name: string; [k: string]: unknown }[] }, name: string) => p.parameter?.find((x) => x.name === name);

async function setup(t: Test): Promise<TestServer> {
  const s = await startServer(t);
  for (const body of [codeSystem,
    { resourceType: 'ValueSet', id: 'vs-alpha', url: 'http://acme.org/vs/alpha', status: 'active',
      compose: { include: [{ system: CS, filter: [{ property: 'concept', op: 'is-a', value: 'A' }] }], exclude: [{ system: CS, concept: [{ code: 'A11' }] }] } }]) {
    const r = await s.request(body.resourceType === 'ValueSet' ? 'PUT' : 'POST', body.resourceType === 'ValueSet' ? 'ValueSet/vs-alpha' : 'CodeSystem', { body });
    t.ok([200, 201].includes(r.statusCode), `stored ${body.resourceType}: ${r.body.slice(0, 300)}`);
  }
  return s;
}

t.test('$expand: the R4 core content, paging, the text filter', async (t) => {
  const s = await startServer(t);
  const gender = await s.request('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender');
  t.equal(gender.statusCode, 200, gender.body.slice(0, 300));
  t.same(codes(gender.json()), ['male', 'female', 'other', 'unknown']);
  t.equal(gender.json().expansion.total, 4);
  t.match(gender.json().expansion.contains[0], { system: 'http://hl7.org/fhir/administrative-gender', code: 'male', display: 'Male' });
  const page = (await s.request('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&offset=1&count=2')).json();
  t.same(codes(page), ['female', 'other'], 'offset and count page the expansion');
  t.equal(page.expansion.total, 4, 'total counts every member');
  t.same(codes((await s.request('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&filter=fem')).json()), ['female'], 'filter on display');
  const unknown = await s.request('GET', 'ValueSet/$expand?url=http://nowhere.org/vs');
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json().issue[0], { code: 'not-found', diagnostics: /http:\/\/nowhere.org\/vs/ });
  t.equal((await s.request('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&count=x')).statusCode, 400, 'count must be a number');
  t.equal((await s.request('GET', 'ValueSet/$expand')).statusCode, 400, 'no ValueSet named');
  t.equal((await s.request('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender&count=10001')).statusCode, 400,
    'a page of more than 10,000 is refused');
});

t.test('$expand: a tenant ValueSet with filters, excludes, nested sets; by instance, by url, inline', async (t) => {
  const s = await setup(t);
  t.same(codes((await s.request('GET', 'ValueSet/vs-alpha/$expand')).json()), ['A', 'A1', 'A2'], 'is-a minus the excluded concept, by instance');
  t.same(codes((await s.request('GET', 'ValueSet/$expand?url=http://acme.org/vs/alpha&activeOnly=true')).json()), ['A', 'A1'], 'activeOnly leaves out the retired code');
  const inline = async (compose: object) => {
    const r = await s.request('POST', 'ValueSet/$expand', { body: { resourceType: 'Parameters', parameter: [
      { name: 'valueSet', resource: { resourceType: 'ValueSet', status: 'active', compose } }] } });
    t.equal(r.statusCode, 200, r.body.slice(0, 300));
    return codes(r.json());
  };
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'concept', op: 'descendent-of', value: 'A' }] }] }), ['A1', 'A11', 'A2'], 'descendent-of');
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'concept', op: 'is-not-a', value: 'A' }] }] }), ['B', 'B1'], 'is-not-a');
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'concept', op: 'generalizes', value: 'A11' }] }] }), ['A', 'A1', 'A11'], 'generalizes');
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'colour', op: '=', value: 'blue' }] }] }), ['A11'], 'property =');
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'colour', op: 'in', value: 'red,blue' }] }] }), ['A1', 'A11'], 'property in');
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'code', op: 'regex', value: 'A[0-9]+' }] }] }), ['A1', 'A11', 'A2'], 'code regex, matched whole');
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'colour', op: 'exists', value: 'false' }] }] }), ['A', 'A2', 'B', 'B1'], 'exists false');
  t.same(await inline({ include: [{ system: CS, filter: [{ property: 'concept', op: 'is-a', value: 'A' }, { property: 'colour', op: 'exists', value: 'true' }] }] }),
    ['A1', 'A11'], 'filters of one include all apply');
  t.same(await inline({ include: [{ system: CS }], exclude: [{ system: CS, filter: [{ property: 'concept', op: 'is-a', value: 'A1' }] }] }),
    ['A', 'A2', 'B', 'B1'], 'an exclude by filter');
  t.same(await inline({ include: [{ valueSet: ['http://acme.org/vs/alpha'] }, { system: CS, concept: [{ code: 'B1' }, { code: 'A' }] }] }),
    ['A', 'A1', 'A2', 'B1'], 'a nested ValueSet, then a concept list, each code once');
  t.same(await inline({ include: [{ system: CS, valueSet: ['http://acme.org/vs/alpha'], filter: [{ property: 'colour', op: 'exists', value: 'true' }] }] }),
    ['A1'], 'an include narrowed by a nested ValueSet');
  const expanded = (await s.request('GET', 'ValueSet/$expand?url=http://acme.org/vs/alpha')).json();
  t.match(expanded.expansion.contains.find((c: { code: string }) => c.code === 'A2'), { inactive: true, version: '2' });
  const b = (await s.request('POST', 'ValueSet/$expand', { body: { resourceType: 'Parameters', parameter: [
    { name: 'valueSet', resource: { resourceType: 'ValueSet', status: 'active', compose: { include: [{ system: CS, concept: [{ code: 'B' }] }] } } }] } })).json();
  t.match(b.expansion.contains[0], { code: 'B', abstract: true }, 'notSelectable is abstract');

  const bad = async (filter: object, status: number, text: RegExp) => {
    const r = await s.request('POST', 'ValueSet/$expand', { body: { resourceType: 'Parameters', parameter: [
      { name: 'valueSet', resource: { resourceType: 'ValueSet', status: 'active', compose: { include: [{ system: CS, filter: [filter] }] } } }] } });
    t.equal(r.statusCode, status, r.body.slice(0, 200));
    t.match(r.json().issue[0].diagnostics, text);
  };
  await bad({ property: 'code', op: 'regex', value: '(unclosed' }, 400, /not a valid regular expression/);
  await bad({ property: 'concept', op: 'sounds-like', value: 'A' }, 400, /sounds-like/);
  const stored = async (compose: object) => s.request('POST', 'ValueSet', { body: { resourceType: 'ValueSet', url: 'http://acme.org/vs/bad', status: 'active', compose } });
  const badRegex = await stored({ include: [{ system: CS, filter: [{ property: 'code', op: 'regex', value: '(unclosed' }] }] });
  t.equal(badRegex.statusCode, 422, 'a ValueSet whose regex does not compile is refused when written');
  t.same(badRegex.json().issue[0].expression, ['ValueSet.compose.include[0].filter[0].value']);
  const badOp = await stored({ include: [{ system: CS }], exclude: [{ system: CS, filter: [{ property: 'concept', op: 'sounds-like', value: 'A' }] }] });
  t.equal(badOp.statusCode, 400, 'an operator R4 does not define (the filter-operator binding is required)');
  t.match(badOp.json().issue[0].expression[0], /ValueSet.compose.exclude\[0\].filter\[0\].op/);
  t.equal((await stored({ include: [{ concept: [{ code: 'A' }] }] })).statusCode, 422, 'an include without system or valueSet');
  t.equal((await s.request('GET', 'ValueSet?url=http://acme.org/vs/bad')).json().total ?? 0, 0, 'none of them was written');
  const long = { resourceType: 'CodeSystem', url: 'http://acme.org/cs/long', status: 'active', content: 'complete', concept: [{ code: `${'a'.repeat(5000)}!` }] };
  t.equal((await s.request('POST', 'CodeSystem', { body: long })).statusCode, 201);
  const started = Date.now();
  const redos = await s.request('POST', 'ValueSet/$expand', { body: { resourceType: 'Parameters', parameter: [{ name: 'valueSet', resource: {
    resourceType: 'ValueSet', status: 'active', compose: { include: [{ system: 'http://acme.org/cs/long', filter: [{ property: 'code', op: 'regex', value: '(a+)+b' }] }] } } }] } });
  t.equal(redos.statusCode, 200);
  t.equal(redos.json().expansion.total, 0);
  t.ok(Date.now() - started < 5000, 'a catastrophic-backtracking pattern runs in linear time (RE2)');
  const missing = await s.request('POST', 'ValueSet/$expand', { body: { resourceType: 'Parameters', parameter: [
    { name: 'valueSet', resource: { resourceType: 'ValueSet', status: 'active', compose: { include: [{ system: 'http://loinc.org' }] } } }] } });
  t.equal(missing.statusCode, 404, 'a whole code system the server does not hold cannot be expanded');
  t.match(missing.json().issue[0].diagnostics, /http:\/\/loinc.org/);
});

t.test('$expand of a large ValueSet is paged; unpaged beyond 10,000 it is too costly', async (t) => {
  const s = await startServer(t);
  const big = { resourceType: 'CodeSystem', url: 'http://acme.org/cs/big', status: 'active', content: 'complete',
    concept: Array.from({ length: 10_001 }, (_, i) => ({ code: `c${i}`, display: `Concept ${i}` })) };
  t.equal((await s.request('POST', 'CodeSystem', { body: big })).statusCode, 201);
  const vs = { resourceType: 'ValueSet', url: 'http://acme.org/vs/big', status: 'active', compose: { include: [{ system: 'http://acme.org/cs/big' }] } };
  t.equal((await s.request('POST', 'ValueSet', { body: vs })).statusCode, 201);
  const whole = await s.request('GET', 'ValueSet/$expand?url=http://acme.org/vs/big');
  t.equal(whole.statusCode, 400);
  t.equal(whole.json().issue[0].code, 'too-costly');
  const page = (await s.request('GET', 'ValueSet/$expand?url=http://acme.org/vs/big&offset=9990&count=20')).json();
  t.equal(page.expansion.total, 10_001);
  t.same(codes(page), Array.from({ length: 11 }, (_, i) => `c${9990 + i}`));
});

t.test('$validate-code on ValueSets and CodeSystems', async (t) => {
  const s = await setup(t);
  const check = async (path: string, body?: object) => {
    const r = body ? await s.request('POST', path, { body }) : await s.request('GET', path);
    t.equal(r.statusCode, 200, r.body.slice(0, 300));
    return r.json();
  };
  const yes = await check(`ValueSet/$validate-code?url=http://acme.org/vs/alpha&system=${CS}&code=A1`);
  t.equal(param(yes, 'result')?.valueBoolean, true);
  t.equal(param(yes, 'display')?.valueString, 'Alpha one');
  const excluded = await check(`ValueSet/vs-alpha/$validate-code?system=${CS}&code=A11`);
  t.equal(param(excluded, 'result')?.valueBoolean, false, 'an excluded code is not a member');
  t.match(param(excluded, 'message')?.valueString, /not in the ValueSet/);
  const wrongDisplay = await check(`ValueSet/$validate-code?url=http://acme.org/vs/alpha&system=${CS}&code=A1&display=Alpha%20uno`);
  t.equal(param(wrongDisplay, 'result')?.valueBoolean, false, 'a wrong display');
  t.match(param(wrongDisplay, 'message')?.valueString, /'Alpha one'/);
  const retired = await check(`ValueSet/$validate-code?url=http://acme.org/vs/alpha&system=${CS}&code=A2`);
  t.equal(param(retired, 'result')?.valueBoolean, true);
  t.match(param(retired, 'message')?.valueString, /inactive/);
  const concept = await check('ValueSet/$validate-code', { resourceType: 'Parameters', parameter: [
    { name: 'url', valueUri: 'http://hl7.org/fhir/ValueSet/condition-clinical' },
    { name: 'codeableConcept', valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '55561003' },
      { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'remission' }] } }] });
  t.equal(param(concept, 'result')?.valueBoolean, true, 'a CodeableConcept is valid when one coding is');
  const core = await check('ValueSet/$validate-code?url=http://hl7.org/fhir/ValueSet/administrative-gender&system=http://hl7.org/fhir/administrative-gender&code=robot');
  t.equal(param(core, 'result')?.valueBoolean, false);
  const cs = await check(`CodeSystem/$validate-code?url=${CS}&code=B1`);
  t.equal(param(cs, 'result')?.valueBoolean, true);
  t.equal(param(cs, 'display')?.valueString, 'Beta one');
  t.equal(param(await check(`CodeSystem/$validate-code?url=${CS}&code=Z9`), 'result')?.valueBoolean, false);
  t.equal((await s.request('GET', 'ValueSet/$validate-code?url=http://acme.org/vs/alpha')).statusCode, 400, 'no code');
});

t.test('$lookup and $subsumes', async (t) => {
  const s = await setup(t);
  const male = await s.request('GET', 'CodeSystem/$lookup?system=http://hl7.org/fhir/administrative-gender&code=male');
  t.equal(male.statusCode, 200, male.body.slice(0, 300));
  t.equal(param(male.json(), 'display')?.valueString, 'Male');
  t.equal(param(male.json(), 'name')?.valueString, 'AdministrativeGender');
  const a1 = (await s.request('GET', `CodeSystem/$lookup?system=${CS}&code=A1`)).json();
  t.equal(param(a1, 'version')?.valueString, '2');
  const props = (a1.parameter as { name: string; part?: { name: string; valueCode?: string; valueString?: string }[] }[])
    .filter((p) => p.name === 'property').map((p) => `${p.part![0]!.valueCode}=${p.part![1]!.valueCode ?? p.part![1]!.valueString}`);
  t.same(props.sort(), ['child=A11', 'colour=red', 'parent=A'].sort());
  t.match(param(a1, 'designation'), { part: [{ name: 'language', valueCode: 'de' }, { name: 'value', valueString: 'Alpha eins' }] });
  const only = (await s.request('GET', `CodeSystem/$lookup?system=${CS}&code=A1&property=parent`)).json();
  t.equal(only.parameter.filter((p: { name: string }) => p.name === 'property').length, 1, 'property= asks for one property');
  const byCoding = await s.request('POST', 'CodeSystem/$lookup', { body: { resourceType: 'Parameters', parameter: [
    { name: 'coding', valueCoding: { system: CS, code: 'A' } }] } });
  t.match(param(byCoding.json(), 'property'), { part: [{ valueCode: 'definition' }, { valueString: 'The first' }] });
  const unknownCode = await s.request('GET', `CodeSystem/$lookup?system=${CS}&code=Z9`);
  t.equal(unknownCode.statusCode, 404);
  t.same(unknownCode.json().issue[0].expression, ['code']);
  t.equal((await s.request('GET', 'CodeSystem/$lookup?system=http://nowhere.org/cs&code=x')).statusCode, 404);
  t.equal((await s.request('GET', 'CodeSystem/$lookup?code=x')).statusCode, 400, 'no system');

  const outcome = async (a: string, b: string) =>
    param((await s.request('GET', `CodeSystem/$subsumes?system=${CS}&codeA=${a}&codeB=${b}`)).json(), 'outcome')?.valueCode;
  t.equal(await outcome('A', 'A11'), 'subsumes');
  t.equal(await outcome('A11', 'A'), 'subsumed-by');
  t.equal(await outcome('A1', 'A1'), 'equivalent');
  t.equal(await outcome('A1', 'B1'), 'not-subsumed');
  const v3 = await s.request('GET', 'CodeSystem/$subsumes?system=http://terminology.hl7.org/CodeSystem/v3-ActCode&codeA=_ActEncounterCode&codeB=AMB');
  t.equal(param(v3.json(), 'outcome')?.valueCode, 'subsumes', 'the core v3 hierarchy');
  const bad = await s.request('GET', `CodeSystem/$subsumes?system=${CS}&codeA=A&codeB=nope`);
  t.equal(bad.statusCode, 404);
  t.same(bad.json().issue[0].expression, ['codeB']);
});

t.test('$translate with core and tenant ConceptMaps', async (t) => {
  const s = await startServer(t);
  const home = (await s.request('GET', 'ConceptMap/$translate?system=http://hl7.org/fhir/address-use&code=home'
    + '&targetsystem=http://terminology.hl7.org/CodeSystem/v2-0190')).json();
  t.equal(param(home, 'result')?.valueBoolean, true);
  t.match(param(home, 'match'), { part: [{ valueCode: 'equivalent' }, { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0190', code: 'H' } },
    { valueUri: 'http://hl7.org/fhir/ConceptMap/cm-address-use-v2' }] });
  const map = { resourceType: 'ConceptMap', id: 'local-lab', url: 'http://acme.org/cm/lab', status: 'active',
    group: [{ source: 'http://acme.org/lab', target: 'http://loinc.org', element: [{ code: 'GLU', target: [{ code: '2345-7', display: 'Glucose', equivalence: 'equivalent' }] },
      { code: 'XX', target: [{ equivalence: 'unmatched' }] }], unmapped: { mode: 'fixed', code: 'LA4489-6', display: 'Unknown' } }] };
  t.equal((await s.request('PUT', 'ConceptMap/local-lab', { body: map })).statusCode, 201);
  const glu = (await s.request('GET', 'ConceptMap/local-lab/$translate?system=http://acme.org/lab&code=GLU')).json();
  t.match(param(glu, 'match'), { part: [{ valueCode: 'equivalent' }, { valueCoding: { system: 'http://loinc.org', code: '2345-7', display: 'Glucose' } }] });
  const unmatched = (await s.request('GET', 'ConceptMap/$translate?url=http://acme.org/cm/lab&system=http://acme.org/lab&code=XX')).json();
  t.equal(param(unmatched, 'result')?.valueBoolean, false, 'unmatched is not a translation');
  const fixed = (await s.request('GET', 'ConceptMap/$translate?system=http://acme.org/lab&code=OTHER')).json();
  t.match(param(fixed, 'match'), { part: [{}, { valueCoding: { code: 'LA4489-6' } }] }, 'unmapped mode fixed, found without naming the map');
  const reverse = (await s.request('GET', 'ConceptMap/local-lab/$translate?system=http://loinc.org&code=2345-7&reverse=true')).json();
  t.match(param(reverse, 'match'), { part: [{}, { valueCoding: { system: 'http://acme.org/lab', code: 'GLU' } }] }, 'reverse');
  const none = (await s.request('GET', 'ConceptMap/$translate?system=http://nowhere.org&code=1')).json();
  t.equal(param(none, 'result')?.valueBoolean, false);
  t.equal((await s.request('GET', 'ConceptMap/$translate?code=GLU')).statusCode, 400, 'a code needs its system');
  t.equal((await s.request('GET', 'ConceptMap/nope/$translate?system=a&code=b')).statusCode, 404);
});

t.test('search :in and :below use the core content; terminology needs read access; the CapabilityStatement lists it', async (t) => {
  const s = await setup(t);
  const cond = async (status: string) => (await s.request('POST', 'Condition', { body: { resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: status }] },
    verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
    code: { text: 'x' }, subject: { display: 'someone' } } })).json().id as string;
  const relapse = await cond('relapse');
  const resolved = await cond('resolved');
  const ids = async (q: string) => ((await s.request('GET', `Condition?${q}`)).json().entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
  t.same(await ids(`clinical-status:below=${encodeURIComponent('http://terminology.hl7.org/CodeSystem/condition-clinical|active')}`), [relapse],
    ':below over the core hierarchy (relapse is under active)');
  t.same((await ids('clinical-status:in=http://hl7.org/fhir/ValueSet/condition-clinical')).sort(), [relapse, resolved].sort(), ':in with a core ValueSet');

  const token = await s.token('system/Observation.rs');
  const denied = await s.request('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender', { headers: { authorization: `Bearer ${token}` } });
  t.equal(denied.statusCode, 403, 'a token without ValueSet read');
  const reader = await s.token('system/ValueSet.r');
  t.equal((await s.request('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender', { headers: { authorization: `Bearer ${reader}` } })).statusCode, 200);

  const caps = (await s.request('GET', 'metadata')).json();
  const ops = (type: string) => caps.rest[0].resource.find((r: { type: string }) => r.type === type).operation.map((o: { name: string }) => o.name);
  t.ok(['expand', 'validate-code'].every((n) => ops('ValueSet').includes(n)), ops('ValueSet').join());
  t.ok(['lookup', 'subsumes', 'validate-code'].every((n) => ops('CodeSystem').includes(n)), ops('CodeSystem').join());
  t.ok(ops('ConceptMap').includes('translate'));
});
