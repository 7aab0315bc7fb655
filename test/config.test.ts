import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.js';

t.test('defaults', async (t) => {
  const c = loadConfig({});
  t.equal(c.port, 8080);
  t.equal(c.databaseUrl, undefined, 'no DATABASE_URL → PGlite');
  t.match(c.dataDir, /\.hearth$/);
  t.ok(c.bodyLimit >= 64 * 1024 * 1024, 'body limit at least 64 MB');
  t.equal(c.logLevel, 'info');
});

t.test('parses sizes, URLs and booleans', async (t) => {
  const c = loadConfig({ HEARTH_BODY_LIMIT: '128mb', HEARTH_BASE_URL: 'https://fhir.example.org/', HEARTH_UPDATE_CREATE: 'false',
    DATABASE_URL: 'postgres://u@h:5432/db', HEARTH_PORT: '9000' });
  t.equal(c.bodyLimit, 128 * 1024 * 1024);
  t.equal(c.baseUrl, 'https://fhir.example.org', 'trailing slash removed');
  t.equal(c.updateCreate, false);
  t.equal(c.port, 9000);
});

t.test('bad configuration stops with one clear message', async (t) => {
  const bad: Record<string, string>[] = [
    { HEARTH_PORT: 'eighty' }, { HEARTH_PORT: '70000' }, { HEARTH_BODY_LIMIT: 'lots' }, { HEARTH_LOG_LEVEL: 'chatty' },
    { DATABASE_URL: 'mysql://x' }, { HEARTH_BASE_URL: 'not a url' }, { HEARTH_ADMIN_TOKEN: 'short' },
    { HEARTH_UPDATE_CREATE: 'maybe' },
  ];
  for (const env of bad) {
    t.throws(() => loadConfig(env), ConfigError, JSON.stringify(env));
  }
});
