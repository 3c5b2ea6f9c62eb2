/**
 * Configuration is validated once at start: a bad value stops the process
 * with a message naming the field; defaults are filled, an explicit 0 stays
 * 0, the environment overrides the usual knobs, and the result is frozen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, loadConfig, ConfigError } from '../gateway/config.ts';

/** A minimal valid raw config; each test breaks one thing. */
function raw(): Record<string, any> {
  return {
    backends: {
      legacy: { url: 'http://127.0.0.1:9001', apiVersions: ['v1'] },
      next: { url: 'http://127.0.0.1:9002', apiVersions: ['v1', 'v2'] },
    },
    pins: { unpinned: [{ idPattern: '^pay_', backend: 'next' }, { backend: 'legacy' }] },
  };
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

const dir = mkdtempSync(join(tmpdir(), 'cutover-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('each bad value is reported under the name of its field', () => {
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    ['backend url', (c) => { c.backends.legacy.url = 'ftp://legacy'; }, /backends\.legacy\.url: must match pattern/],
    ['backend url missing', (c) => { delete c.backends.next.url; }, /backends\.next\.url: is required/],
    ['api version', (c) => { c.backends.next.apiVersions = ['v1', 'v3']; }, /backends\.next\.apiVersions\[1\]: must be one of v1, v2/],
    ['backend name', (c) => { c.backends.Legacy = c.backends.legacy; }, /backends\.Legacy: is not an allowed name/],
    ['unpinned backend', (c) => { c.pins.unpinned[0].backend = 'nova'; }, /pins\.unpinned\[0\]\.backend: unknown backend "nova"/],
    ['unpinned pattern', (c) => { c.pins.unpinned[0].idPattern = '('; }, /pins\.unpinned\[0\]\.idPattern: not a valid regular expression/],
    ['catch-all with a pattern', (c) => { c.pins.unpinned[1].idPattern = '^2026'; }, /pins\.unpinned\[1\]\.idPattern: the last entry is the catch-all/],
    ['empty pattern', (c) => { c.pins.unpinned[0].idPattern = ''; }, /pins\.unpinned\[0\]\.idPattern: must NOT have fewer than 1 characters/],
    ['unknown top-level field', (c) => { c.listenPort = 8080; }, /listenPort: is not an allowed field/],
    ['unknown nested field', (c) => { c.pins.ttl = 400; }, /pins\.ttl: is not an allowed field/],
    ['ttl zero', (c) => { c.pins.ttlDays = 0; }, /pins\.ttlDays: must be > 0/],
    ['short token', (c) => { c.admin = { tokens: [{ name: 'ops', token: 'short' }] }; }, /admin\.tokens\[0\]\.token: must NOT have fewer than 16 characters/],
    ['same ports', (c) => { c.listen = { port: 9000, adminPort: 9000 }; }, /listen\.adminPort: must differ from listen\.port/],
    ['log level', (c) => { c.logLevel = 'verbose'; }, /logLevel: must be one of fatal, error/],
    ['backends missing', (c) => { delete c.backends; }, /backends: is required/],
  ];
  for (const [label, breakIt, expected] of cases) {
    const c = raw();
    breakIt(c);
    assert.match(configError(() => buildConfig(c)), expected, label);
  }
  assert.match(configError(() => buildConfig(['not', 'an', 'object'])), /must be an object/);
});

test('defaults come from the schema, and an explicit 0 stays 0', () => {
  const cfg = buildConfig(raw());
  assert.deepEqual(cfg.listen, { port: 8080, adminPort: 8081, host: '0.0.0.0' });
  assert.deepEqual(cfg.redis, { commandTimeoutMs: 250, waitReplicas: 0, keyPrefix: 'cutover:', refreshSeconds: 5, pinBuckets: 16384 });
  assert.equal(cfg.pins.ttlDays, 400);
  assert.equal(cfg.pins.cacheSize, 100000);
  assert.equal(cfg.backends.legacy.timeoutMs, 5000);
  assert.deepEqual(cfg.backends.next.breaker, { errorThresholdPercentage: 50, volumeThreshold: 20, rollingCountTimeoutMs: 10000, resetTimeoutMs: 10000 });
  assert.equal(cfg.merchantHeader, 'X-Merchant-Id');
  assert.equal(cfg.decisionHeaders, true);
  assert.equal(cfg.limits.bodyBytes, 65536);
  assert.equal(cfg.limits.responseIdleMs, 30000);
  assert.equal(cfg.backends.legacy.queueTimeoutMs, 1000);
  assert.deepEqual(cfg.admin.tokens, []);
  assert.equal(cfg.logLevel, 'info');

  const c = raw();
  c.pins.cacheSize = 0;
  c.backends.legacy.breaker = { volumeThreshold: 0 };
  c.backends.legacy.queueTimeoutMs = 0;
  c.listen = { port: 0, adminPort: 0 };
  c.limits = { drainTimeoutMs: 0 };
  c.decisionHeaders = false;
  const zeroes = buildConfig(c);
  assert.equal(zeroes.pins.cacheSize, 0);
  assert.equal(zeroes.backends.legacy.breaker.volumeThreshold, 0);
  assert.equal(zeroes.backends.legacy.breaker.errorThresholdPercentage, 50);
  assert.equal(zeroes.backends.legacy.queueTimeoutMs, 0);
  assert.equal(zeroes.listen.port, 0);
  assert.equal(zeroes.listen.adminPort, 0);
  assert.equal(zeroes.limits.drainTimeoutMs, 0);
  assert.equal(zeroes.decisionHeaders, false);
});

test('the result is deeply frozen and the caller\'s object is left alone', () => {
  const input = raw();
  const cfg = buildConfig(input);
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.backends.legacy.breaker) && Object.isFrozen(cfg.pins.unpinned[0]));
  assert.throws(() => { (cfg.pins as any).ttlDays = 1; }, TypeError);
  assert.throws(() => { (cfg.backends.next.apiVersions as string[]).push('v3'); }, TypeError);
  assert.equal(input.pins.ttlDays, undefined, 'defaults are not written into the caller\'s object');
});

test('environment overrides: PORT, ADMIN_PORT, REDIS_URL, LOG_LEVEL, CUTOVER_ADMIN_TOKEN', () => {
  const c = raw();
  c.listen = { port: 8080, adminPort: 8081, host: '127.0.0.1' };
  c.admin = { tokens: [{ name: 'ops', token: 'ops-token-0123456789' }] };
  const cfg = buildConfig(c, {
    env: { PORT: '9100', ADMIN_PORT: '9101', REDIS_URL: 'redis://10.0.0.5:6380', LOG_LEVEL: 'warn', CUTOVER_ADMIN_TOKEN: 'env-token-0123456789' },
  });
  assert.deepEqual(cfg.listen, { port: 9100, adminPort: 9101, host: '127.0.0.1' });
  assert.equal(cfg.redis.url, 'redis://10.0.0.5:6380');
  assert.equal(cfg.logLevel, 'warn');
  assert.deepEqual(cfg.admin.tokens, [
    { name: 'ops', token: 'ops-token-0123456789', readOnly: false },
    { name: 'env', token: 'env-token-0123456789', readOnly: false },
  ]);

  assert.match(configError(() => buildConfig(raw(), { env: { PORT: 'eighty' } })), /^PORT: must be a port number/);
  assert.match(configError(() => buildConfig(raw(), { env: { ADMIN_PORT: '70000' } })), /^ADMIN_PORT: must be a port number/);
  assert.match(configError(() => buildConfig(raw(), { env: { REDIS_URL: 'http://redis' } })), /redis\.url: must match pattern/);
  assert.match(configError(() => buildConfig(raw(), { env: { LOG_LEVEL: 'loud' } })), /logLevel: must be one of/);
  assert.match(configError(() => buildConfig(raw(), { env: { CUTOVER_ADMIN_TOKEN: 'short' } })), /^CUTOVER_ADMIN_TOKEN: must be at least 16 characters/);
});

test('loadConfig reads YAML and JSON files, resolves the rules path, and names the file when it cannot', () => {
  const yamlPath = file('ok.yaml', [
    'backends:',
    '  legacy: { url: "http://127.0.0.1:9001", apiVersions: [v1] }',
    'pins:',
    '  unpinned: [{ backend: legacy }]',
    'rules: ./rules.json',
  ].join('\n'));
  const cfg = loadConfig({ CUTOVER_CONFIG: yamlPath, PORT: '9200' });
  assert.equal(cfg.listen.port, 9200);
  assert.equal(cfg.rules, join(dir, 'rules.json'));
  assert.equal(loadConfig({ CUTOVER_CONFIG: file('ok.json', JSON.stringify(raw())) }).backends.next.apiVersions[1], 'v2');

  assert.match(configError(() => loadConfig({})), /^CUTOVER_CONFIG: not set/);
  assert.match(configError(() => loadConfig({ CUTOVER_CONFIG: join(dir, 'missing.yaml') })), /^CUTOVER_CONFIG: cannot read .*missing\.yaml: ENOENT/);
  assert.match(configError(() => loadConfig({ CUTOVER_CONFIG: file('broken.json', '{"backends": ') })), /broken\.json: cannot parse/);
  const bad = raw();
  bad.backends.legacy.timeoutMs = -1;
  const message = configError(() => loadConfig({ CUTOVER_CONFIG: file('bad.json', JSON.stringify(bad)) }));
  assert.match(message, /bad\.json is invalid/);
  assert.match(message, /backends\.legacy\.timeoutMs: must be >= 1/);
});

test('the gateway process exits 2 on a bad config file and names the field on stderr', async () => {
  const bad = raw();
  bad.backends.legacy.url = 'legacy.internal:9001';
  const path = file('bad-start.json', JSON.stringify(bad));
  const child = spawn(process.execPath, ['app/main.ts'], {
    cwd: new URL('..', import.meta.url), env: { PATH: process.env.PATH, CUTOVER_CONFIG: path }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(stderr, /backends\.legacy\.url: must match pattern/);
});

test('redis: one of url, cluster and sentinel; REDIS_URL takes the place of whichever the file names', () => {
  const cluster = ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'];
  const sentinel = { name: 'cutover', sentinels: ['redis://10.0.0.9:26379'] };
  assert.deepEqual(buildConfig({ ...raw(), redis: { cluster } }, { env: {} }).redis.cluster, cluster);
  assert.deepEqual(buildConfig({ ...raw(), redis: { sentinel } }, { env: {} }).redis.sentinel, sentinel);
  assert.match(configError(() => buildConfig({ ...raw(), redis: { url: 'redis://a:6379', cluster } }, { env: {} })), /redis: give only one of url, cluster and sentinel, not url and cluster/);
  assert.match(configError(() => buildConfig({ ...raw(), redis: { cluster: ['10.0.0.1:7000'] } }, { env: {} })), /redis\.cluster\[0\]: must match pattern/);
  assert.match(configError(() => buildConfig({ ...raw(), redis: { sentinel: { sentinels: ['redis://s:26379'] } } }, { env: {} })), /redis\.sentinel\.name: is required/);
  const bad = (redis: Record<string, unknown>) => configError(() => buildConfig({ ...raw(), redis }, { env: {} }));
  assert.match(bad({ url: 'redis://h:70000' }), /redis\.url: not a usable URL/);
  assert.match(bad({ cluster: ['redis://:pw@a:7000', 'redis://b:7000'] }), /redis\.cluster\[1\]: every URL of the list must carry the same credentials and scheme as the first/);
  assert.match(bad({ sentinel: { name: 'm', sentinels: ['redis://s:26379/3'] } }), /redis\.sentinel\.sentinels\[0\]: no database number here/);
  assert.match(bad({ cluster, waitReplicas: 1 }), /redis\.waitReplicas: not supported on a Redis Cluster/);
  assert.match(bad({ waitReplicas: 1 }), /redis\.waitReplicas: needs a Redis/);
  assert.equal(buildConfig({ ...raw(), redis: { sentinel, waitReplicas: 1 } }, { env: {} }).redis.waitReplicas, 1);
  const overridden = buildConfig({ ...raw(), redis: { cluster, keyPrefix: 'pay:' } }, { env: { REDIS_URL: 'redis://10.0.0.5:6380' } }).redis;
  assert.deepEqual([overridden.url, overridden.cluster, overridden.keyPrefix], ['redis://10.0.0.5:6380', undefined, 'pay:']);
});
