// Tests every parameter type and modifier against Synthea data loaded through the API; expectations come from the bundle files — http://hl7.org/fhir/R4/search.html#ptypes
import t, { type Test } from 'tap';
import { startServer } from '../helpers/server.js';
import { type Item, PATIENT_FILES, fold, loadBundles, searchAll, values } from './search-fixtures.js';

const s = await startServer(t);
const d = await loadBundles(s, PATIENT_FILES);
const refs = (items: Item[]) => items.map((i) => i.ref).sort();

async function expect(tt: Test, query: string, expected: Item[], message: string) {
  const r = await searchAll(s, `${query}${query.includes('?') ? '&' : '?'}_count=500`);
  tt.equal(r.status, 200, `${message}: 200`);
  tt.same(r.ids.sort(), refs(expected), `${message}: ${expected.length} match`);
  tt.equal(r.total, expected.length, `${message}: total`);
}

const patients = d.of('Patient');
const observations = d.of('Observation');
const byFamily = (f: string) => patients.find((p) => values(p.resource, 'name.family').includes(f))!;
const andrea = byFamily('Dach');
const gustavo = byFamily('Mejía');
const codeOf = (i: Item, path = 'code') => values(i.resource, `${path}.coding`) as { system?: string; code?: string; display?: string }[];

t.test('string: accent- and case-insensitive starts-with, :exact, :contains, :missing', async (t) => {
  const family = (pred: (f: string) => boolean) => patients.filter((p) => (values(p.resource, 'name.family') as string[]).some(pred));
  await expect(t, 'Patient?family=MEJIA', family((f) => fold(f).startsWith('mejia')), 'family=MEJIA finds Mejía');
  await expect(t, 'Patient?name=mej', family((f) => fold(f).startsWith('mej')), 'name covers family');
  await expect(t, 'Patient?family=ejia', [], 'starts-with, not contains');
  await expect(t, 'Patient?family:contains=ejí', family((f) => fold(f).includes('eji')), ':contains');
  await expect(t, 'Patient?family:exact=Mejía', family((f) => f === 'Mejía'), ':exact');
  await expect(t, 'Patient?family:exact=mejía', [], ':exact is case-sensitive');
  await expect(t, 'Patient?family:exact=Mejia', [], ':exact is accent-sensitive');
  const city = values(gustavo.resource, 'address.city')[0] as string;
  await expect(t, `Patient?address-city=${city.slice(0, 3).toLowerCase()}`,
    patients.filter((p) => (values(p.resource, 'address.city') as string[]).some((c) => fold(c).startsWith(fold(city.slice(0, 3))))), 'address-city');
  await expect(t, 'Patient?family=wiegand,dach', family((f) => ['wiegand', 'dach'].includes(fold(f))), 'comma = OR');
  await expect(t, 'Patient?family=wiegand&given=luigi', family((f) => f === 'Wiegand'), 'repeat = AND (match)');
  await expect(t, 'Patient?family=wiegand&given=andrea', [], 'repeat = AND (no match)');
  await expect(t, 'Patient?name:missing=false', patients, ':missing=false');
  await expect(t, 'Patient?name:missing=true', [], ':missing=true');
});

t.test('token: system|code, code, |code, system|, case, :not, :text, :of-type, :missing', async (t) => {
  const withCode = (items: Item[], pred: (c: { system?: string; code?: string }) => boolean, path = 'code') =>
    items.filter((i) => codeOf(i, path).some(pred));
  const height = withCode(observations, (c) => c.code === '8302-2');
  await expect(t, 'Observation?code=http://loinc.org|8302-2', height, 'system|code');
  await expect(t, 'Observation?code=8302-2', height, 'bare code');
  await expect(t, 'Observation?code=|8302-2', [], '|code: only codes without a system');
  await expect(t, 'Observation?code=http://snomed.info/sct|8302-2', [], 'wrong system');
  await expect(t, 'Observation?code=8302-2,29463-7', withCode(observations, (c) => ['8302-2', '29463-7'].includes(c.code!)), 'OR');
  await expect(t, 'Observation?code=http://loinc.org|', withCode(observations, (c) => c.system === 'http://loinc.org'), 'system|');
  await expect(t, 'Observation?code:not=8302-2', observations.filter((o) => !height.includes(o)), ':not');
  await expect(t, 'Patient?gender=MALE', patients.filter((p) => p.resource.gender === 'male'), 'codes compare case-insensitively');
  await expect(t, 'Patient?gender=female', [], 'no female patient');
  const conditions = d.of('Condition');
  const sinus = conditions.filter((c) => codeOf(c).some((x) => fold(x.display!).split(' ').some((w) => w.startsWith('sinusit'))));
  t.ok(sinus.length > 0);
  await expect(t, 'Condition?code:text=SINUSIT', sinus, ':text matches displays word by word');
  const mr = values(andrea.resource, 'identifier').find((i) => values(i, 'type.coding.code').includes('MR')) as { system: string; value: string };
  await expect(t, `Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|${mr.value}`, [andrea], ':of-type');
  await expect(t, `Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|${mr.value}`, [], ':of-type wrong type');
  await expect(t, `Patient?identifier=${mr.system}|${mr.value.toUpperCase()}`, [andrea], 'identifier system|VALUE (case-insensitive value)');
  await expect(t, `Patient?_id=${andrea.id},${gustavo.id}`, [andrea, gustavo], '_id list');
  await expect(t, `Patient?_id=${andrea.id.toUpperCase()}`, andrea.id === andrea.id.toUpperCase() ? [andrea] : [], '_id is case-sensitive');
  const tagged = d.items.filter((i) => i.resource.resourceType === 'Observation' && values(i.resource, 'meta.tag.code').includes('synthea-5-2019'));
  await expect(t, 'Observation?_tag=https://smarthealthit.org/tags|synthea-5-2019', tagged, '_tag');
  await expect(t, 'Observation?value-concept:missing=false', observations.filter((o) => o.resource.valueCodeableConcept), ':missing=false');
});

t.test('reference: Type/id, id, :[type], absolute URL, :missing; chains and _has', async (t) => {
  const obsOf = (p: Item) => observations.filter((o) => d.target((o.resource.subject as { reference: string }).reference) === p.ref);
  await expect(t, `Observation?subject=${andrea.ref}`, obsOf(andrea), 'Type/id');
  await expect(t, `Observation?subject=${andrea.id}`, obsOf(andrea), 'bare id');
  await expect(t, `Observation?subject:Patient=${andrea.id}`, obsOf(andrea), ':Patient');
  await expect(t, `Observation?patient=${gustavo.id}`, obsOf(gustavo), 'patient param');
  await expect(t, `Observation?subject=${encodeURIComponent(`${s.url}/${andrea.ref}`)}`, obsOf(andrea), 'absolute URL on this base');
  await expect(t, `Observation?subject=${andrea.ref},${gustavo.ref}`, [...obsOf(andrea), ...obsOf(gustavo)], 'OR');
  await expect(t, 'Observation?subject=Patient/nope', [], 'unknown id');
  await expect(t, 'Observation?subject:Group=x', [], ':Group');
  await expect(t, 'Observation?subject:missing=true', [], ':missing=true');
  await expect(t, 'Observation?subject:Patient.family=mejia', obsOf(gustavo), 'chain');
  await expect(t, 'Observation?subject.family=mejia', obsOf(gustavo), 'untyped chain');
  await expect(t, 'Observation?subject:Patient.family=nobody', [], 'chain without match');
  const encounters = d.of('Encounter');
  const orgName = (e: Item) => d.items.find((i) => i.ref === d.target((e.resource.serviceProvider as { reference?: string } | undefined)?.reference))?.resource.name as string | undefined;
  const winchester = encounters.filter((e) => fold(orgName(e) ?? '').startsWith('winchester'));
  const viaEncounter = observations.filter((o) => winchester.some((e) => e.ref === d.target((o.resource.encounter as { reference: string } | undefined)?.reference)));
  t.ok(viaEncounter.length > 0, 'fixture has observations at Winchester');
  await expect(t, 'Observation?encounter.service-provider.name=winchester', viaEncounter, 'two-level chain');
  const heightPatients = patients.filter((p) => obsOf(p).some((o) => codeOf(o).some((c) => c.code === '8302-2')));
  await expect(t, 'Patient?_has:Observation:patient:code=8302-2', heightPatients, '_has');
  await expect(t, 'Patient?_has:Observation:patient:code=0000-0', [], '_has without match');
  const encOf = (p: Item) => encounters.filter((e) => d.target((e.resource.subject as { reference: string }).reference) === p.ref);
  const heightEncounters = new Set(observations.filter((o) => codeOf(o).some((c) => c.code === '8302-2'))
    .map((o) => d.target((o.resource.encounter as { reference: string } | undefined)?.reference)));
  await expect(t, 'Patient?_has:Encounter:subject:_has:Observation:encounter:code=8302-2',
    patients.filter((p) => encOf(p).some((e) => heightEncounters.has(e.ref))), 'nested _has');
  t.equal((await s.request('GET', 'Patient?_has:Condition:subject:_has:Encounter:subject:status=finished')).statusCode, 400,
    '_has through a reference that cannot point at the outer type → 400');
});

t.test('date: prefixes on dates, dateTimes and Periods; AND builds ranges', async (t) => {
  const born = (pred: (b: string) => boolean) => patients.filter((p) => pred(p.resource.birthDate as string));
  const day = andrea.resource.birthDate as string;
  await expect(t, `Patient?birthdate=${day}`, born((b) => b === day), 'eq day');
  await expect(t, `Patient?birthdate=${day.slice(0, 4)}`, born((b) => b.startsWith(day.slice(0, 4))), 'eq year');
  await expect(t, `Patient?birthdate=gt${day}`, born((b) => b > day), 'gt');
  await expect(t, `Patient?birthdate=ge${day}`, born((b) => b >= day), 'ge');
  await expect(t, `Patient?birthdate=lt${day}`, born((b) => b < day), 'lt');
  await expect(t, `Patient?birthdate=le${day}`, born((b) => b <= day), 'le');
  await expect(t, `Patient?birthdate=ne${day}`, born((b) => b !== day), 'ne');
  await expect(t, `Patient?birthdate=sa${day}`, born((b) => b > day), 'sa');
  await expect(t, `Patient?birthdate=eb${day}`, born((b) => b < day), 'eb');
  await expect(t, 'Patient?birthdate=ge1950&birthdate=le2000', born((b) => b >= '1950' && b < '2001'), 'AND range');
  const encounters = d.of('Encounter');
  const inYear = (y: number) => encounters.filter((e) => {
    const p = e.resource.period as { start: string; end?: string };
    return Date.parse(p.start) >= Date.UTC(y, 0, 1) && Date.parse(p.end ?? p.start) < Date.UTC(y + 1, 0, 1);
  });
  const year = new Date((encounters[0]!.resource.period as { start: string }).start).getUTCFullYear();
  await expect(t, `Encounter?date=${year}`, inYear(year), 'Period inside a year');
  await expect(t, `Encounter?date=sa${year}`, encounters.filter((e) => Date.parse((e.resource.period as { start: string }).start) >= Date.UTC(year + 1, 0, 1)), 'Period sa');
  await expect(t, '_lastUpdated=lt2000-01-01'.replace(/^/, 'Patient?'), [], '_lastUpdated before the load');
  await expect(t, 'Patient?_lastUpdated=gt2000-01-01', patients, '_lastUpdated after');
});

t.test('quantity: precision, prefixes, system|code and ||unit; composite on one component', async (t) => {
  const q = (o: Item) => o.resource.valueQuantity as { value: number; code: string; unit: string } | undefined;
  // Synthea writes 12–15 decimals, so a value's own implicit range holds only that value; a rounded one is ±0.5.
  const sample = observations.find((o) => q(o)?.code === 'cm')!;
  const v = q(sample)!.value;
  const text = String(v);
  const near = observations.filter((o) => q(o) && String(q(o)!.value) === text);
  const unit = q(sample)!.code;
  const whole = Math.round(v);
  await expect(t, `Observation?value-quantity=${whole}||cm`, observations.filter((o) => q(o)?.code === 'cm' && q(o)!.value >= whole - 0.5 && q(o)!.value < whole + 0.5), 'integer search value: ±0.5');
  t.ok(near.length > 0, `fixture has quantities near ${text} ${unit}`);
  await expect(t, `Observation?value-quantity=${text}|http://unitsofmeasure.org|${encodeURIComponent(unit)}`, near.filter((o) => q(o)!.code === unit), 'eq with units');
  await expect(t, `Observation?value-quantity=${text}||${encodeURIComponent(unit)}`, near.filter((o) => q(o)!.code === unit || q(o)!.unit === unit), '||unit');
  await expect(t, `Observation?value-quantity=${text}`, near, 'any unit');
  await expect(t, `Observation?value-quantity=gt${text}||${encodeURIComponent(unit)}`, observations.filter((o) => q(o)?.code === unit && q(o)!.value > v), 'gt');
  await expect(t, `Observation?value-quantity=le${text}||${encodeURIComponent(unit)}`, observations.filter((o) => q(o)?.code === unit && q(o)!.value <= v), 'le');
  await expect(t, `Observation?value-quantity=${text}|http://unitsofmeasure.org|nope`, [], 'other unit');
  const components = (o: Item) => (o.resource.component ?? []) as { code: { coding: { code: string }[] }; valueQuantity?: { value: number } }[];
  const systolic = (o: Item, pred: (n: number) => boolean) => components(o).some((c) => c.code.coding.some((x) => x.code === '8480-6') && c.valueQuantity && pred(c.valueQuantity.value));
  await expect(t, 'Observation?component-code-value-quantity=http://loinc.org|8480-6$gt120', observations.filter((o) => systolic(o, (n) => n > 120)), 'composite');
  const diastolicHigh = observations.filter((o) => components(o).some((c) => c.code.coding.some((x) => x.code === '8462-4') && c.valueQuantity!.value > 120));
  await expect(t, 'Observation?component-code-value-quantity=http://loinc.org|8462-4$gt120', diastolicHigh, 'composite components on the same element');
  await expect(t, 'Observation?value-quantity:missing=true', observations.filter((o) => !q(o)), ':missing=true');
});

t.test('number, uri, _profile, _security, _source, :identifier on resources created for the test', async (t) => {
  const made = async (body: object) => (await s.request('POST', (body as { resourceType: string }).resourceType, { body })).json();
  // At most 100: a RiskAssessment's probability above 100 breaks ras-2 (issue #15 §3).
  const probs = [100, 99.96, 99.5, 99.4, 0.8];
  const risks: { id: string }[] = [];
  for (const p of probs) risks.push(await made({ resourceType: 'RiskAssessment', status: 'final', subject: { reference: andrea.ref }, prediction: [{ probabilityDecimal: p }] }));
  const ids = (pred: (p: number) => boolean) => risks.filter((_r, n) => pred(probs[n]!)).map((r) => `RiskAssessment/${r.id}`).sort();
  const found = async (q: string) => (await searchAll(s, q)).ids.sort();
  t.same(await found('RiskAssessment?probability=100'), ids((p) => p >= 99.5 && p < 100.5), 'number eq: [99.5, 100.5)');
  t.same(await found('RiskAssessment?probability=100.0'), ids((p) => p >= 99.95 && p < 100.05), 'number eq with a decimal: [99.95, 100.05)');
  t.same(await found('RiskAssessment?probability=1e2'), ids((p) => p >= 95 && p < 105), '1e2: [95, 105)');
  t.same(await found('RiskAssessment?probability=lt100'), ids((p) => p < 100), 'lt exact');
  t.same(await found('RiskAssessment?probability=ap100'), ids((p) => p >= 90 && p <= 110), 'ap ±10%');
  t.same(await found('RiskAssessment?probability:missing=true'), [], 'number :missing');
  const vs = await made({ resourceType: 'ValueSet', status: 'active', url: 'http://acme.org/fhir/ValueSet/one', version: '2.0',
    meta: { profile: ['http://acme.org/fhir/StructureDefinition/vs|1.0'], security: [{ system: 'http://s', code: 'R' }], source: 'http://feeder/1' } });
  const one = [`ValueSet/${vs.id}`];
  t.same(await found('ValueSet?url=http://acme.org/fhir/ValueSet/one'), one, 'uri exact');
  t.same(await found('ValueSet?url=http://acme.org/fhir/ValueSet/ONE'), [], 'uri is case-sensitive');
  t.same(await found('ValueSet?url:below=http://acme.org/fhir/'), one, ':below');
  t.same(await found('ValueSet?url:above=http://acme.org/fhir/ValueSet/one/child'), one, ':above');
  t.same(await found('ValueSet?url:below=http://other.org/'), [], ':below miss');
  t.same(await found(`ValueSet?url=${encodeURIComponent('http://acme.org/fhir/ValueSet/one|2.0')}`), one, 'url|version');
  t.same(await found(`ValueSet?url=${encodeURIComponent('http://acme.org/fhir/ValueSet/one|3.0')}`), [], 'url|other version');
  t.same(await found('ValueSet?_profile=http://acme.org/fhir/StructureDefinition/vs'), one, '_profile without version');
  t.same(await found('ValueSet?_security=http://s|R'), one, '_security');
  t.same(await found('ValueSet?_source=http://feeder/1'), one, '_source');
  t.same(await found('ValueSet?_source=http://feeder/2'), [], '_source miss');
  const obs = await made({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { identifier: { system: 'http://ids', value: 'P-7' } } });
  t.same(await found('Observation?subject:identifier=http://ids|p-7'), [`Observation/${obs.id}`], 'reference :identifier');
  t.same(await found('Observation?subject:identifier=http://ids|P-8'), [], 'reference :identifier miss');
});

t.test('a bare id naming resources of two target types is ambiguous (400); :[type] settles it', async (t) => {
  t.equal((await s.request('PUT', 'Patient/amb-1', { body: { resourceType: 'Patient', id: 'amb-1' } })).statusCode, 201);
  t.equal((await s.request('PUT', 'Group/amb-1', { body: { resourceType: 'Group', id: 'amb-1', type: 'person', actual: true } })).statusCode, 201);
  const amb = await s.request('GET', 'Observation?subject=amb-1');
  t.equal(amb.statusCode, 400);
  t.match(amb.json().issue[0].diagnostics, /ambiguous/);
  t.equal((await s.request('GET', 'Observation?subject:Patient=amb-1')).statusCode, 200);
  t.equal((await s.request('GET', 'Observation?subject=Group/amb-1')).statusCode, 200);
  t.equal((await s.request('GET', `Observation?subject=${andrea.id}`)).statusCode, 200, 'one type only: not ambiguous');
});

t.test('system search with _type; injection through each type leaves the data intact', async (t) => {
  await expect(t, '?_type=Condition,Encounter', [...d.of('Condition'), ...d.of('Encounter')], '_type lists');
  await expect(t, `?_type=Patient,Observation&_id=${andrea.id}`, [andrea], '_type with _id');
  const evil = encodeURIComponent("x' OR '1'='1'); DROP TABLE resource; --");
  for (const q of [`Patient?name=${evil}`, `Observation?code=${evil}`, `Observation?subject=${evil}`, `Observation?value-quantity=5|${evil}|${evil}`,
    `ValueSet?url:below=${evil}`, `Observation?subject:Patient.name=${evil}`, `Patient?_has:Observation:patient:code=${evil}`,
    `Observation?component-code-value-quantity=${evil}$5`, `Patient?_sort=${evil}`, `Patient?_content=${evil}`]) {
    const r = await s.request('GET', q);
    t.ok([200, 400].includes(r.statusCode), `${q.split('=')[0]}: answered ${r.statusCode}`);
    if (r.statusCode === 200) t.equal(r.json().total, 0, 'nothing matches');
  }
  t.equal((await searchAll(s, 'Encounter?_summary=count')).total, d.of('Encounter').length, 'the data is intact');
});
