/**
 * Several gateway instances on one real redis-server, with the reference
 * backends: the set-up of every multi-instance test (propagation, shared
 * pins, canary lease hand-over). Started in `before`, closed in `after`.
 */
import { after, before } from 'node:test';
import type { Ruleset } from '../../gateway/rules.ts';
import { startRedis, type TestRedis } from './redis.ts';
import { startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './stack.ts';

/** A change to one instance's raw config (see `noPinCache`). */
export type ConfigEdit = (raw: Record<string, unknown>) => Record<string, unknown>;

/** What `useGateways` starts. */
export interface GatewaysOptions {
  /** How many instances start in `before` (default 2), or one config edit per instance. */
  instances?: number | ConfigEdit[];
  /** Top-level config fields for every instance. */
  overrides?: Record<string, unknown>;
  rules?: Ruleset;
  keyPrefix?: string;
  canaryTickMs?: number;
  /** The instances' clock (failure injection for pin expiry). */
  now?: () => number;
  /**
   * Called with the instances once they run, inside the same `before` hook
   * (node:test does not wait for one root hook before starting the next).
   */
  onStarted?: (gws: RunningGateway[]) => Promise<void> | void;
}

/** The instance's config as the other options make it. */
export const asIs: ConfigEdit = (raw) => raw;

/** The instance keeps no pin cache: every follow-up through it reads the pin from Redis. */
export const noPinCache: ConfigEdit = (raw) => ({ ...raw, pins: { ...(raw.pins as object), cacheSize: 0 } });

/** Every backend gets this breaker configuration. */
export const withBreaker = (breaker: Record<string, number>): ConfigEdit => (raw) => ({
  ...raw,
  backends: Object.fromEntries(Object.entries(raw.backends as Record<string, object>).map(([k, b]) => [k, { ...b, breaker }])),
});

/**
 * Registers before/after hooks that start a redis-server, the reference
 * backends and the gateway instances on that Redis. `start()` adds an
 * instance later (closed with the others); `close(gw)` closes one early.
 */
export function useGateways(options: () => GatewaysOptions = () => ({})) {
  let redis: TestRedis;
  let backends: Backends;
  let o: GatewaysOptions;
  const gws: RunningGateway[] = [];
  const start = async (edit: ConfigEdit = (raw) => raw, keyPrefix = o.keyPrefix): Promise<RunningGateway> => {
    const gw = await startGateway(edit(testConfig(backends.urls, o.overrides, o.rules)), { redisUrl: redis.url, keyPrefix, canaryTickMs: o.canaryTickMs, now: o.now });
    gws.push(gw);
    return gw;
  };
  before(async () => {
    o = options();
    redis = await startRedis();
    backends = await startBackends();
    const edits = typeof o.instances === 'object' ? o.instances : Array.from({ length: o.instances ?? 2 }, () => undefined);
    for (const edit of edits) await start(edit);
    await o.onStarted?.([...gws]);
  });
  after(async () => {
    for (const gw of gws.splice(0)) await gw.close();
    await backends?.close();
    await redis?.close();
  });
  return {
    get redis() { return redis; },
    get backends() { return backends; },
    /** The instances, in start order. */
    get gws(): readonly RunningGateway[] { return gws; },
    start,
    /** Closes one instance now (a test that ends its own instances). */
    async close(gw: RunningGateway) {
      const i = gws.indexOf(gw);
      if (i >= 0) gws.splice(i, 1);
      await gw.close();
    },
  };
}
