/** Users of the authorization server: scrypt hashes, RFC 6238 TOTP, validation and the timed lockout. */
import t from 'tap';
import { hashPassword, verifyPassword } from '../../src/oauth/passwords.js';
import { base32Decode, base32Encode, generateTotpSecret, otpauthUri, totpCode, verifyTotp } from '../../src/oauth/totp.js';
import { LOCKOUT_MS, authenticate, createUser, findUser } from '../../src/oauth/users.js';
import { sql, ident } from '../../src/db/sql.js';
import { FhirError } from '../../src/errors.js';
import { findTenant } from '../../src/storage/tenants.js';
import { startServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery';

t.test('hashPassword: self-describing scrypt hash with a random salt; verifyPassword checks it', async (t) => {
  const hash = await hashPassword(PASSWORD);
  t.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  t.not(await hashPassword(PASSWORD), hash, 'a new salt every time');
  t.equal(await verifyPassword(PASSWORD, hash), true);
  t.equal(await verifyPassword('correct horse batteryx', hash), false);
  t.equal(await verifyPassword('', hash), false);
  t.equal(await verifyPassword(PASSWORD, 'plain-text'), false, 'malformed hash never matches');
  t.equal(await verifyPassword(PASSWORD, hash.replace('$32768$', '$1073741824$')), false, 'absurd cost refused');
  t.equal(await verifyPassword(PASSWORD, hash.replace('$32768$', '$16384$')), false, 'parameters are part of the hash');
});

// RFC 6238 Appendix B, SHA-1 rows (secret "12345678901234567890"): the 8-digit codes' last 6 digits.
const RFC6238: [number, string][] = [
  [59, '287082'], [1111111109, '081804'], [1111111111, '050471'], [1234567890, '005924'], [2000000000, '279037'],
  [20000000000, '353130'],
];
const RFC_SECRET = base32Encode(Buffer.from('12345678901234567890'));

t.test('TOTP: RFC 6238 test vectors (HMAC-SHA1, 30 s, 6 digits)', async (t) => {
  t.equal(RFC_SECRET, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  for (const [seconds, code] of RFC6238) t.equal(totpCode(RFC_SECRET, new Date(seconds * 1000)), code, `T=${seconds}`);
});

t.test('verifyTotp accepts the current step and one step either side, nothing else', async (t) => {
  const at = new Date(1111111109 * 1000);
  t.equal(verifyTotp(RFC_SECRET, '081804', at), true);
  t.equal(verifyTotp(RFC_SECRET, '081804', new Date(at.getTime() + 30_000)), true, 'one step late');
  t.equal(verifyTotp(RFC_SECRET, '081804', new Date(at.getTime() - 30_000)), true, 'one step early');
  t.equal(verifyTotp(RFC_SECRET, '081804', new Date(at.getTime() + 60_000)), false, 'two steps late');
  t.equal(verifyTotp(RFC_SECRET, '081805', at), false);
  t.equal(verifyTotp(RFC_SECRET, '08180', at), false, 'five digits');
  t.equal(verifyTotp(RFC_SECRET, 'abcdef', at), false);
  t.equal(verifyTotp('not base32!', '081804', at), false);
});

t.test('TOTP secrets are 160-bit base32; otpauth URI for enrolment', async (t) => {
  const secret = generateTotpSecret();
  t.match(secret, /^[A-Z2-7]{32}$/);
  t.equal(base32Decode(secret)?.length, 20);
  t.equal(base32Encode(base32Decode(secret)!), secret);
  t.equal(otpauthUri(secret, 'dr.who@example.org', 'Hearth'),
    `otpauth://totp/Hearth:dr.who%40example.org?secret=${secret}&issuer=Hearth&algorithm=SHA1&digits=6&period=30`);
});

t.test('users in a tenant schema', async (t) => {
  const s = await startServer(t);
  const db = s.deps.db;
  const schema = (await findTenant(db, s.slug))!.schema;
  const at = new Date('2026-01-01T10:00:00Z');
  const later = (ms: number) => new Date(at.getTime() + ms);

  t.test('createUser validates its input with 400s that say what is wrong', async (t) => {
    const ok = { username: 'v.user', password: PASSWORD, fhirUser: 'Patient/1' };
    const cases: [unknown, RegExp][] = [
      [null, /JSON object/],
      [{ ...ok, username: '' }, /username must be 1–64/],
      [{ ...ok, username: 'a'.repeat(65) }, /username must be 1–64/],
      [{ ...ok, username: 'bad name' }, /username must be/],
      [{ ...ok, password: 'short' }, /password must be at least 10 characters/],
      [{ ...ok, password: 12345678901 }, /password must be/],
      [{ ...ok, fhirUser: 'Observation/1' }, /fhirUser must be a relative reference/],
      [{ ...ok, fhirUser: 'http://x/Patient/1' }, /fhirUser/],
      [{ ...ok, fhirUser: `Patient/${'x'.repeat(65)}` }, /fhirUser/],
      [{ ...ok, totp: 'yes' }, /totp must be true or false/],
      [{ ...ok, role: 'admin' }, /Unknown user field\(s\): role/],
    ];
    for (const [input, message] of cases) {
      const e = await createUser(db, schema, input).catch((e: unknown) => e);
      t.ok(e instanceof FhirError && e.status === 400, `400 for ${JSON.stringify(input)}`);
      t.match((e as Error).message, message);
    }
    for (const fhirUser of ['Practitioner/a-1.2', 'PractitionerRole/x', 'RelatedPerson/r', 'Person/p']) {
      t.ok((await createUser(db, schema, { ...ok, username: `ok-${fhirUser.replace(/\W/g, '')}`, fhirUser })).user.id);
    }
  });

  t.test('created user: found by id, password stored as a scrypt hash; duplicate username → 409', async (t) => {
    const { user, totpSecret } = await createUser(db, schema, { username: 'alice@example.org', password: PASSWORD, fhirUser: 'Practitioner/7' });
    t.same(user, { id: user.id, username: 'alice@example.org', fhirUser: 'Practitioner/7', totp: false });
    t.equal(totpSecret, undefined);
    t.same(await findUser(db, schema, user.id), user);
    t.equal(await findUser(db, schema, 'not-a-uuid'), undefined);
    t.equal(await findUser(db, schema, '00000000-0000-4000-8000-000000000000'), undefined);
    const [row] = await db.query<{ password_hash: string }>(sql`SELECT password_hash FROM ${ident(schema)}.auth_user WHERE id = ${user.id}`);
    t.match(row!.password_hash, /^scrypt\$/);
    t.notMatch(row!.password_hash, PASSWORD);
    const dup = await createUser(db, schema, { username: 'alice@example.org', password: PASSWORD, fhirUser: 'Patient/1' }).catch((e) => e);
    t.equal((dup as FhirError).status, 409);
  });

  t.test('authenticate: right password → ok; wrong password or unknown user → invalid', async (t) => {
    await createUser(db, schema, { username: 'bob', password: PASSWORD, fhirUser: 'Patient/2' });
    const ok = await authenticate(db, schema, 'bob', PASSWORD, undefined, at);
    t.equal(ok.ok, true);
    t.equal(ok.ok && ok.user.fhirUser, 'Patient/2');
    t.same(await authenticate(db, schema, 'bob', 'wrong password', undefined, at), { ok: false, reason: 'invalid' });
    t.same(await authenticate(db, schema, 'nobody', PASSWORD, undefined, at), { ok: false, reason: 'invalid' });
    t.same(await authenticate(db, schema, "bob' OR '1'='1", PASSWORD, undefined, at), { ok: false, reason: 'invalid' });
  });

  t.test('5 consecutive failures lock the account for 15 minutes; then it opens again', async (t) => {
    await createUser(db, schema, { username: 'carol', password: PASSWORD, fhirUser: 'Patient/3' });
    for (let i = 1; i <= 5; i++) {
      t.same(await authenticate(db, schema, 'carol', `wrong ${i}xxxxxx`, undefined, later(i * 1000)), { ok: false, reason: 'invalid' });
    }
    t.same(await authenticate(db, schema, 'carol', PASSWORD, undefined, later(6000)), { ok: false, reason: 'locked' },
      'the right password is not even checked while locked');
    t.same(await authenticate(db, schema, 'carol', PASSWORD, undefined, later(5000 + LOCKOUT_MS - 1)), { ok: false, reason: 'locked' });
    t.equal(LOCKOUT_MS, 15 * 60 * 1000);
    const open = await authenticate(db, schema, 'carol', PASSWORD, undefined, later(5000 + LOCKOUT_MS));
    t.equal(open.ok, true, 'unlocked after 15 minutes');
  });

  t.test('after a lock runs out, the count starts again from zero', async (t) => {
    await createUser(db, schema, { username: 'carl', password: PASSWORD, fhirUser: 'Patient/3' });
    for (let i = 0; i < 5; i++) await authenticate(db, schema, 'carl', 'wrong password', undefined, at);
    const after = later(LOCKOUT_MS + 1000);
    t.same(await authenticate(db, schema, 'carl', 'wrong password', undefined, after), { ok: false, reason: 'invalid' });
    t.equal((await authenticate(db, schema, 'carl', PASSWORD, undefined, after)).ok, true, 'one failure does not re-lock');
  });

  t.test('success resets the failure count (failures must be consecutive)', async (t) => {
    await createUser(db, schema, { username: 'dave', password: PASSWORD, fhirUser: 'Patient/4' });
    for (let i = 0; i < 4; i++) await authenticate(db, schema, 'dave', 'wrong password', undefined, at);
    t.equal((await authenticate(db, schema, 'dave', PASSWORD, undefined, at)).ok, true);
    for (let i = 0; i < 4; i++) await authenticate(db, schema, 'dave', 'wrong password', undefined, at);
    t.equal((await authenticate(db, schema, 'dave', PASSWORD, undefined, at)).ok, true, '4 + 4 failures never locked');
  });

  t.test('parallel guesses cannot get past the limit', async (t) => {
    await createUser(db, schema, { username: 'erin', password: PASSWORD, fhirUser: 'Patient/5' });
    const results = await Promise.all(Array.from({ length: 9 }, (_, i) =>
      authenticate(db, schema, 'erin', `guess number ${i}`, undefined, at)));
    const checked = results.filter((r) => !r.ok && r.reason === 'invalid').length;
    t.equal(checked, 5, 'exactly five passwords were checked');
    t.equal(results.filter((r) => !r.ok && r.reason === 'locked').length, 4);
    t.same(await authenticate(db, schema, 'erin', PASSWORD, undefined, at), { ok: false, reason: 'locked' });
  });

  t.test('TOTP: created with a secret; code required, checked, and failures count', async (t) => {
    const created = await createUser(db, schema, { username: 'frank', password: PASSWORD, fhirUser: 'Practitioner/9', totp: true });
    t.equal(created.user.totp, true);
    const secret = created.totpSecret!;
    t.match(secret, /^[A-Z2-7]{32}$/);
    t.equal(created.otpauthUri, otpauthUri(secret, 'frank', 'Hearth'));
    const [row] = await db.query<{ totp_secret: string }>(sql`SELECT totp_secret FROM ${ident(schema)}.auth_user WHERE id = ${created.user.id}`);
    t.equal(row!.totp_secret, secret);

    for (let i = 0; i < 6; i++) {
      t.same(await authenticate(db, schema, 'frank', PASSWORD, undefined, at), { ok: false, reason: 'totp-required' });
    }
    t.same(await authenticate(db, schema, 'frank', PASSWORD, '', at), { ok: false, reason: 'totp-required' });
    t.same(await authenticate(db, schema, 'frank', 'wrong password', totpCode(secret, at), at), { ok: false, reason: 'invalid' },
      'a valid code does not rescue a wrong password');
    const ok = await authenticate(db, schema, 'frank', PASSWORD, totpCode(secret, at), at);
    t.equal(ok.ok, true, 'password and current code → ok (six totp-required answers did not lock)');
    t.equal((await authenticate(db, schema, 'frank', PASSWORD, totpCode(secret, new Date(at.getTime() - 30_000)), at)).ok, true,
      'the previous step is accepted (clock drift)');

    const wrong = totpCode(secret, new Date(at.getTime() + 5 * 60_000));
    for (let i = 0; i < 5; i++) {
      t.same(await authenticate(db, schema, 'frank', PASSWORD, wrong, at), { ok: false, reason: 'invalid' });
    }
    t.same(await authenticate(db, schema, 'frank', PASSWORD, totpCode(secret, at), at), { ok: false, reason: 'locked' },
      'five wrong codes lock the account');
  });
});
