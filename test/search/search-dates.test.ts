// Tests date search against the checklist's vectors (fhir-search.md §3.2.4, §3.2.5): precision ranges, all nine prefixes, Periods — http://hl7.org/fhir/R4/search.html#date
import t from 'tap';
import { startServer } from '../helpers/server.js';

const s = await startServer(t);
const create = async (body: object) => (await s.request('POST', (body as { resourceType: string }).resourceType, { body })).json().id as string;
const ids = async (query: string) => {
  const res = await s.request('GET', query);
  t.equal(res.statusCode, 200, query);
  return (res.json().entry ?? []).map((e: { resource: { id: string } }) => e.resource.id).sort();
};

t.test('Patient.birthDate = 1995-10-02 against the §3.2.4 vectors', async (t) => {
  const day = await create({ resourceType: 'Patient', birthDate: '1995-10-02' });
  const year = await create({ resourceType: 'Patient', birthDate: '1995' });
  const vectors: [string, boolean][] = [
    ['1995-10-02', true], ['eq1995-10', true], ['1995', true], ['ge1995-10-02', true], ['le1995-10-02', true],
    ['gt1995-10-02', false], ['lt1995-10-02', false], ['lt1995-10-03', true], ['gt1995-10-01', true], ['ne1995-10-02', false],
    ['1995-10-02T10:00Z', false], ['sa1995-10-01', true], ['eb1995-10-03', true], ['sa1995-10-02', false], ['eb1995-10-02', false],
    ['ap1995-10-02', true], ['ap1960', false],
  ];
  for (const [value, matches] of vectors) {
    const found = (await ids(`Patient?birthdate=${encodeURIComponent(value)}`)).includes(day);
    t.equal(found, matches, `birthdate=${value} ${matches ? '✓' : '✗'}`);
  }
  t.notOk((await ids('Patient?birthdate=1995-10-02')).includes(year), 'stored 1995 vs birthdate=1995-10-02 ✗');
  t.ok((await ids('Patient?birthdate=1995')).includes(year), 'stored 1995 vs birthdate=1995 ✓');
  t.ok((await ids('Patient?birthdate=ge1995-10-02')).includes(year), 'stored 1995 extends past 1995-10-02 (gt) ✓');
  t.same(await ids('Patient?birthdate=ge1995-01-01&birthdate=le1995-12-31'), [day, year].sort(), 'AND builds a range');
});

t.test('Periods and dateTimes: the §3.2.5 spec examples, time zones', async (t) => {
  const enc = (period: object) => create({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period });
  const openEnd = await enc({ start: '2013-01-21' });
  const later = await enc({ start: '2013-03-15' });
  const until = await enc({ end: '2013-01-21' });
  const has = async (q: string, id: string) => (await ids(`Encounter?date=${q}`)).includes(id);
  t.ok(await has('ge2013-03-14', openEnd), 'from 2013-01-21, open end: ge2013-03-14 ✓');
  t.ok(await has('le2013-03-14', openEnd), '… le2013-03-14 ✓');
  t.notOk(await has('sa2013-03-14', openEnd), '… sa2013-03-14 ✗');
  t.ok(await has('sa2013-03-14', later), 'from 2013-03-15: sa2013-03-14 ✓');
  t.ok(await has('eb2013-03-14', until), 'until 2013-01-21: eb2013-03-14 ✓');
  t.notOk(await has('2013', openEnd), 'an open-ended period is not inside a year');
  const obs = await create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveDateTime: '2013-01-14' });
  const found = await ids(`Observation?date=gt${encodeURIComponent('2013-01-14T10:00')}`);
  t.ok(found.includes(obs), 'gt2013-01-14T10:00 matches 2013-01-14 (the day extends past 10:00)');
  const zoned = await create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveDateTime: '2013-01-14T23:30:00-05:00' });
  t.ok((await ids('Observation?date=2013-01-15')).includes(zoned), 'offsets normalise to UTC (04:30Z on the 15th)');
  t.notOk((await ids('Observation?date=2013-01-14')).includes(zoned), '… so not on the 14th in UTC');
  t.ok((await ids(`Observation?date=${encodeURIComponent('2013-01-14T23:30-05:00')}`)).includes(zoned), 'a zoned minute');
  for (const bad of ['2013-01-14T10', '2013/01/14', 'gt', '20130114']) {
    t.equal((await s.request('GET', `Observation?date=${bad}`)).statusCode, 400, `${bad} → 400`);
  }
});
