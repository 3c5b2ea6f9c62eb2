/**
 * Real servers on loopback for tests: the two reference backends and one or
 * more gateway instances (memory or Redis store), each on port 0.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Writable } from 'node:stream';
import { after, before } from 'node:test';
import { createReferenceBackend } from '../../backends/reference.ts';
import { buildApp, type Gateway } from '../../app/build.ts';
import { buildConfig, type Config } from '../../gateway/config.ts';
import { createLogger } from '../../gateway/log.ts';
import { createServer, listen } from '../../gateway/data/server.ts';
import { openStore } from '../../gateway/store/open.ts';
import type { Store } from '../../gateway/store/types.ts';
import type { Ruleset, SplitEntry } from '../../gateway/rules.ts';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFlakyBackend, type FlakyBackend } from './raw-http.ts';
import { startRedis, type TestRedis } from './redis.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const READONLY_TOKEN = 'test-readonly-token-0123456789';

export interface Backends {
  legacy: ReturnType<typeof createReferenceBackend>;
  next: ReturnType<typeof createReferenceBackend>;
  urls: { legacy: string; next: string };
  close(): Promise<void>;
}

export async function startBackends(): Promise<Backends> {
  const legacy = createReferenceBackend({ kind: 'legacy' });
  const next = createReferenceBackend({ kind: 'next' });
  const lp = await listen(legacy.server, 0, '127.0.0.1');
  const np = await listen(next.server, 0, '127.0.0.1');
  return {
    legacy, next, urls: { legacy: `http://127.0.0.1:${lp}`, next: `http://127.0.0.1:${np}` },
    async close() {
      for (const s of [legacy.server, next.server]) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
    },
  };
}

export const DEFAULT_RULES: Ruleset = {
  rules: [{ name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' }],
  default: 'legacy',
};

/** The default rules plus a rule `name` splitting v1 across `split`, sticky by order number unless `stickyBy` says merchant. */
export function v1SplitRules(name: string, split: SplitEntry[], stickyBy: 'order' | 'merchant' = 'order'): Ruleset {
  return { rules: [...DEFAULT_RULES.rules, { name, match: { apiVersion: 'v1' }, split, stickyBy }], default: 'legacy' };
}

/** v2 to next; v1 split half and half between next and legacy by order number. */
export const HALF_SPLIT_RULES = v1SplitRules('v1-half', [{ backend: 'next', weight: 50 }, { backend: 'legacy', weight: 50 }]);

/** A raw config for the test backends; `overrides` are merged at the top level. */
export function testConfig(urls: Backends['urls'], overrides: Record<string, unknown> = {}, rules: Ruleset = DEFAULT_RULES): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-test-'));
  const rulesPath = join(dir, 'rules.json');
  writeFileSync(rulesPath, JSON.stringify(rules));
  return {
    listen: { port: 0, adminPort: 0, host: '127.0.0.1' },
    backends: {
      legacy: { url: urls.legacy, apiVersions: ['v1'], timeoutMs: 2000 },
      next: { url: urls.next, apiVersions: ['v1', 'v2'], timeoutMs: 2000 },
    },
    pins: { ttlDays: 400, unpinned: [{ idPattern: '^pay_', backend: 'next' }, { backend: 'legacy' }] },
    rules: rulesPath,
    admin: { tokens: [{ name: 'ops', token: ADMIN_TOKEN }, { name: 'viewer', token: READONLY_TOKEN, readOnly: true }] },
    logLevel: 'silent',
    ...overrides,
  };
}

export interface RunningGateway {
  gw: Gateway;
  store: Store;
  config: Readonly<Config>;
  url: string;
  adminUrl: string;
  dataServer: Server;
  adminServer: Server;
  close(): Promise<void>;
}

/**
 * Builds and starts a gateway on port 0. Pass `redisUrl` for the Redis store, else the embedded one;
 * `logTo` receives its log lines (see helpers/log-sink.ts).
 */
export async function startGateway(raw: Record<string, unknown>, opts: { redisUrl?: string; now?: () => number; keyPrefix?: string; canaryTickMs?: number; logTo?: Writable } = {}): Promise<RunningGateway> {
  const withRedis = opts.redisUrl ? { ...raw, redis: { ...(raw.redis as object), url: opts.redisUrl, ...(opts.keyPrefix ? { keyPrefix: opts.keyPrefix } : {}) } } : raw;
  const config = buildConfig(withRedis);
  const log = createLogger(config.logLevel, opts.logTo);
  const store = await openStore(config, log);
  const gw = buildApp({ config, store, log, now: opts.now, canaryTickMs: opts.canaryTickMs });
  await gw.start();
  const dataServer = createServer(gw.dataApp, config.limits);
  const adminServer = createServer(gw.adminApp, config.limits);
  const port = await listen(dataServer, 0, '127.0.0.1');
  const adminPort = await listen(adminServer, 0, '127.0.0.1');
  return {
    gw, store, config, dataServer, adminServer,
    url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}`,
    async close() {
      for (const s of [dataServer, adminServer]) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
      await gw.stop();
      await store.close();
    },
  };
}

let seq = 0;
/** A unique order number for a test. */
export function orderId(prefix = 'T'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${(seq++).toString(36)}`;
}

export const v1Create = (order: string, amount = '12.34') => ({ out_trade_no: order, total_amount: amount, currency: 'CNY', subject: 'test order' });
export const v2Create = (order: string, value = 1234) => ({ merchantOrderId: order, amount: { value, currency: 'CNY' }, description: 'test order' });

/** What `useStack` starts; every field is optional. */
export interface StackOptions {
  overrides?: Record<string, unknown>;
  rules?: Ruleset;
  /** An already running Redis to use as the store. */
  redisUrl?: string;
  /** Start a real redis-server for this file (closed in `after`) and use it as the store. */
  redis?: boolean;
  keyPrefix?: string;
  canaryTickMs?: number;
  /** Where the gateway's log lines go (see helpers/log-sink.ts). */
  logTo?: Writable;
  /** Put a flaky backend (see `startFlakyBackend`) in place of legacy; next stays the reference backend. */
  flakyLegacy?: boolean;
  /**
   * Set-up that needs the running gateway, awaited inside the same `before`
   * hook (node:test does not wait for one root hook before starting the next).
   */
  onStarted?: (gw: RunningGateway) => Promise<void> | void;
}

/**
 * Registers before/after hooks that start the reference backends and one
 * gateway (memory store unless `options()` gives `redisUrl` or `redis: true`),
 * and returns live accessors to them.
 */
export function useStack(options: () => StackOptions = () => ({})) {
  let redis: TestRedis | undefined;
  let backends: Backends;
  let gw: RunningGateway;
  let flaky: FlakyBackend | undefined;
  before(async () => {
    const o = options();
    if (o.redis) redis = await startRedis();
    backends = await startBackends();
    if (o.flakyLegacy) flaky = await startFlakyBackend();
    const urls = flaky ? { ...backends.urls, legacy: flaky.url } : backends.urls;
    gw = await startGateway(testConfig(urls, o.overrides, o.rules), { redisUrl: redis?.url ?? o.redisUrl, keyPrefix: o.keyPrefix, canaryTickMs: o.canaryTickMs, logTo: o.logTo });
    await o.onStarted?.(gw);
  });
  after(async () => { await gw?.close(); await flaky?.close(); await backends?.close(); await redis?.close(); });
  return {
    get backends() { return backends; },
    get gw() { return gw; },
    /** The redis-server started by `redis: true`. */
    get redis(): TestRedis { if (!redis) throw new Error('useStack: no redis was asked for'); return redis; },
    /** The flaky legacy backend started by `flakyLegacy: true`. */
    get flaky(): FlakyBackend { if (!flaky) throw new Error('useStack: no flaky legacy was asked for'); return flaky; },
  };
}

/** Where a request went: the gateway's x-cutover-backend, x-cutover-reason and x-cutover-rules-version. */
export interface Routed { backend: string | null; reason: string | null; version: number }

/** A fresh v1 create for `merchant` through `gw`, answered 200, and where it was routed. */
export async function routeV1Create(gw: RunningGateway, merchant: string): Promise<Routed> {
  const res = await merchantPost(gw, '/api/v1/payments', merchant, v1Create(orderId()));
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  return { backend: res.headers.get('x-cutover-backend'), reason: res.headers.get('x-cutover-reason'), version: Number(res.headers.get('x-cutover-rules-version')) };
}

/** A merchant POST with a JSON body through a gateway. */
export function merchantPost(gw: RunningGateway, path: string, merchant: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant, ...headers }, body: JSON.stringify(body) });
}

/** An admin call with the full-rights token, answered as the raw Response; new tests use `admin()` of helpers/admin.ts. */
export function adminCall(gw: RunningGateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.adminUrl}${path}`, {
    method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
