import t from 'tap';
import { decodeJwt } from '../../src/auth/jws.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startServer } from '../helpers/server.js';

/** Issue #12 §11: an expired access token was accepted for 30 s after exp (an undocumented skew allowance). */

t.test('an access token 10 s past its exp is refused (accepted for 30 s)', async (t) => {
  const s = await startServer(t);
  const token = await s.token('system/*.rs', { ttl: 60 });
  const exp = decodeJwt(token).claims.exp as number;
  const read = () => s.request('GET', 'Patient?_count=1', { headers: { authorization: `Bearer ${token}` } });
  const realNow = s.deps.auth.now;
  t.teardown(() => { s.deps.auth.now = realNow; });
  const at = (seconds: number) => { s.deps.auth.now = () => new Date(seconds * 1000); };

  at(exp + 10);
  const late = await read();
  t.equal(late.statusCode, 401, '10 s after exp');
  t.match(late.headers['www-authenticate'], /expired/);
  at(exp + 5);
  t.equal((await read()).statusCode, 401, 'the default skew is 5 s: at exp + 5 it has expired');
  at(exp + 4);
  t.equal((await read()).statusCode, 200, 'within the default 5 s of skew');

  s.deps.config.clockSkewS = 0;
  at(exp);
  t.equal((await read()).statusCode, 401, 'HEARTH_CLOCK_SKEW_SECONDS=0: expired at exp');
  at(exp - 1);
  t.equal((await read()).statusCode, 200);
});

t.test('HEARTH_CLOCK_SKEW_SECONDS defaults to 5 and is validated', async (t) => {
  t.equal(loadConfig({}).clockSkewS, 5);
  t.equal(loadConfig({ HEARTH_CLOCK_SKEW_SECONDS: '0' }).clockSkewS, 0);
  t.equal(loadConfig({ HEARTH_CLOCK_SKEW_SECONDS: '60' }).clockSkewS, 60);
  t.throws(() => loadConfig({ HEARTH_CLOCK_SKEW_SECONDS: '61' }), ConfigError);
  t.throws(() => loadConfig({ HEARTH_CLOCK_SKEW_SECONDS: '-1' }), ConfigError);
  t.throws(() => loadConfig({ HEARTH_CLOCK_SKEW_SECONDS: '5s' }), ConfigError);
});
