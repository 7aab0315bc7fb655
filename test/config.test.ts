import path from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.js';

t.test('defaults', async (t) => {
  const c = loadConfig({});
  t.equal(c.port, 8080);
  t.equal(c.databaseUrl, undefined, 'no DATABASE_URL → PGlite');
  t.match(c.dataDir, /\.hearth$/);
  t.ok(c.bodyLimit >= 64 * 1024 * 1024, 'body limit at least 64 MB');
  t.equal(c.logLevel, 'info');
  t.equal(c.exportDir, path.join(c.dataDir, 'exports'), 'exports under the data directory');
  t.equal(c.exportTtlMs, 24 * 3600_000, 'export files live 24 h');
  t.equal(c.exportMaxJobs, 1, 'one export per client at a time');
  t.equal(c.exportFileResources, 100_000, 'a new file every 100,000 resources');
});

t.test('Bulk Data export settings', async (t) => {
  const c = loadConfig({ HEARTH_DATA_DIR: '/var/lib/hearth', HEARTH_EXPORT_TTL: '90m', HEARTH_EXPORT_MAX_JOBS: '3',
    HEARTH_EXPORT_FILE_RESOURCES: '5000' });
  t.equal(c.exportDir, '/var/lib/hearth/exports');
  t.equal(c.exportTtlMs, 90 * 60_000);
  t.equal(c.exportMaxJobs, 3);
  t.equal(c.exportFileResources, 5000);
  t.equal(loadConfig({ HEARTH_EXPORT_DIR: '/srv/exports' }).exportDir, '/srv/exports');
  t.equal(loadConfig({ HEARTH_EXPORT_TTL: '3600' }).exportTtlMs, 3600_000, 'a bare number is seconds');
  t.equal(loadConfig({ HEARTH_EXPORT_TTL: '2d' }).exportTtlMs, 2 * 86_400_000);
  for (const env of [{ HEARTH_EXPORT_TTL: 'soon' }, { HEARTH_EXPORT_TTL: '10ms' }, { HEARTH_EXPORT_MAX_JOBS: '0' },
    { HEARTH_EXPORT_FILE_RESOURCES: 'many' }]) {
    t.throws(() => loadConfig(env), ConfigError, JSON.stringify(env));
  }
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
