/**
 * buildApp(deps): wires the data plane and the control plane without
 * listening. `main` only reads config, builds, listens and handles signals;
 * tests build apps directly on port 0.
 */
import type { RequestListener } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { pinTtlMs, type Config } from '../gateway/config.ts';
import { GuardedBackend } from '../gateway/data/breakers.ts';
import { BackendProxy } from '../gateway/data/proxy.ts';
import { createDataPlane } from '../gateway/data/pipeline.ts';
import { Metrics } from '../gateway/metrics.ts';
import type { Logger } from '../gateway/log.ts';
import { PinService } from '../gateway/pins.ts';
import type { Store } from '../gateway/store/types.ts';
import { LiveRouting } from '../gateway/control/live.ts';
import { AdminService } from '../gateway/control/admin-service.ts';
import { createAuthenticator } from '../gateway/control/auth.ts';
import { SplitTracker } from '../gateway/control/split-tracker.ts';
import { CanaryController } from '../gateway/control/canary.ts';
import { CanaryStats } from '../gateway/control/canary-stats.ts';
import { TrafficStats } from '../gateway/control/traffic-stats.ts';
import { DrainStats } from '../gateway/control/drain-stats.ts';
import { DrainReporter } from '../gateway/control/drain.ts';
import { PinFence } from '../gateway/control/pin-fence.ts';
import { InFlight } from '../gateway/control/in-flight.ts';
import { HandoverJobs } from '../gateway/control/handover-jobs.ts';
import { HandoverRunner } from '../gateway/control/handover-runner.ts';
import type { DecideEnv } from '../gateway/data/decide.ts';
import { GatewayError, requestIdOf, sendError } from '../gateway/errors.ts';
import { adminRouter } from '../routes/admin.ts';
import { healthRouter } from '../routes/health.ts';
import { consoleRouter } from '../routes/console.ts';
import { adminOverviewRouter } from '../routes/admin-overview.ts';
import { drainRouter } from '../routes/drain.ts';
import { handoverRouter } from '../routes/handover.ts';

export interface AppDeps {
  config: Readonly<Config>;
  store: Store;
  log: Logger;
  /** Clock for pins (tests move it to check expiry). */
  now?: () => number;
  /** Canary controller round interval (tests shorten it). */
  canaryTickMs?: number;
  metrics?: Metrics;
}

export interface Gateway {
  /**
   * The data port's request handler: plain Node, no router. The data path matches
   * paths itself (gateway/data/identify.ts); a router in front cost CPU on every request.
   */
  dataApp: RequestListener;
  adminApp: express.Express;
  live: LiveRouting;
  metrics: Metrics;
  backends: Map<string, GuardedBackend>;
  pins: PinService;
  canary: CanaryController;
  /** Loads the ruleset (seeding the store when empty) and starts following changes. */
  start(): Promise<void>;
  /** Marks the instance as draining (readyz answers 503). */
  drain(): void;
  /** Stops timers and breakers and closes upstream pools; the store is the caller's. */
  stop(): Promise<void>;
}

function jsonErrors(log: Logger) {
  return function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction) {
    const e = err as { type?: string; status?: number };
    let mapped = err;
    if (e?.type === 'entity.parse.failed') mapped = new GatewayError('invalid_json', { cause: err });
    else if (e?.type === 'entity.too.large') mapped = new GatewayError('payload_too_large', { cause: err });
    else if (e?.status && e.status < 500 && !(err instanceof GatewayError)) mapped = new GatewayError('bad_request', { cause: err });
    sendError(res, mapped, requestIdOf(req.headers), log);
  };
}

export function buildApp(deps: AppDeps): Gateway {
  const { config, store, log } = deps;
  const metrics = deps.metrics ?? new Metrics();
  const now = deps.now ?? Date.now;
  const ttlMs = pinTtlMs(config);
  const pins = new PinService(store, {
    cacheSize: config.pins.cacheSize, ttlMs, now,
    // A create's claim is released, if at all, when its answer comes: within its backend's
    // timeout. A minute more covers the clocks of other instances (pin times are theirs).
    claimsFinalAfterMs: Math.max(...Object.values(config.backends).map((b) => b.timeoutMs + b.queueTimeoutMs)) + 60_000,
    events: {
      onPinOp: (op, outcome) => metrics.pinOps.inc({ op, outcome }),
      onStoreError: () => metrics.storeErrors.inc(),
      onStoreCall: (command, seconds) => metrics.storeDuration.observe({ command }, seconds),
    },
  });
  const backends = new Map<string, GuardedBackend>();
  for (const [name, cfg] of Object.entries(config.backends)) {
    metrics.setBreaker(name, 'closed');
    backends.set(name, new GuardedBackend(new BackendProxy(name, cfg, config.merchantHeader, config.limits.responseIdleMs), (b, state) => {
      metrics.setBreaker(b, state);
      log.warn({ backend: b, state }, 'circuit breaker state changed');
    }));
  }
  const live = new LiveRouting(store, config, log);
  live.onSwap((s) => metrics.rulesVersion.set(s.rules.version));
  const unpinned = config.pins.unpinned.map((u) => ({ pattern: u.idPattern ? new RegExp(u.idPattern) : undefined, backend: u.backend }));
  const split = new SplitTracker(metrics, () => live.state, store);
  const canaryStats = new CanaryStats(store);
  const traffic = new TrafficStats(store, Object.keys(config.backends));
  const drainStats = new DrainStats(store);
  const inFlight = new InFlight();
  const fence = new PinFence({ store, pins, log, settle: () => inFlight.settle(3000) });
  // What decide reads, built once for the data path and explain; `state` is read per request.
  const env: DecideEnv = {
    get state() { return live.state; },
    backends: config.backends, unpinned, pins,
    isOpen: (name) => backends.get(name)?.isOpen ?? false,
  };
  const handle = createDataPlane({
    config, env, pins, backends, metrics, log,
    onNewTransaction: (d, s, rules) => split.record(d, s, rules),
    onAnswered(backend, status, seconds, endpoint, pinned) {
      canaryStats.observe(backend, status, seconds);
      traffic.observe(backend, status, seconds);
      if (endpoint === 'create') { if (!pinned && status >= 200 && status < 300) drainStats.observe(backend, 'new'); }
      else if (endpoint !== undefined && endpoint !== 'unmodelled') drainStats.observe(backend, 'followUp');
    },
  });
  const handoverJobs = new HandoverJobs(store, () => Object.keys(config.backends), config.handover.ratePerSecond);
  const handover = new HandoverRunner({
    store, jobs: handoverJobs, owner: fence.id, log,
    batch: { store, backends: config.backends, merchantHeader: config.merchantHeader, fence: (keys) => fence.fence(keys) },
  });
  const drain = new DrainReporter({ store, stats: drainStats, state: () => live.state, configured: () => Object.keys(config.backends), now });
  const service = new AdminService({ store, config, live, pins, env, log });
  const canary = new CanaryController({ store, admin: service, stats: canaryStats, metrics, log, tickMs: deps.canaryTickMs });
  let draining = false;

  const track = inFlight.track(handle);
  const dataApp: RequestListener = function merchantApi(req, res) { void track(req, res); };

  const adminApp = express();
  adminApp.disable('x-powered-by');
  adminApp.use(healthRouter({
    storeReachable: () => store.ping().then(() => true, () => false),
    rulesLoaded: () => live.loaded,
    draining: () => draining,
    warnings: () => drain.warnings(),
  }));
  adminApp.get('/metrics', async function metricsEndpoint(_req, res) {
    await Promise.all([split.view().catch(() => {}), drain.report().then((r) => metrics.setDrain(r), () => {})]);
    metrics.pinCacheEntries.set(pins.cachedPins);
    res.setHeader('content-type', metrics.registry.contentType);
    res.end(await metrics.registry.metrics());
  });
  const authenticate = createAuthenticator(config.admin.tokens);
  adminApp.use(consoleRouter());
  adminApp.use(adminOverviewRouter({
    authenticate, log, traffic: () => traffic.read(), rulesVersion: () => (live.loaded ? live.state.rules.version : null),
    breakers: () => Object.fromEntries([...backends].map(([n, b]) => [n, b.breaker.opened ? 'open' : b.breaker.halfOpen ? 'half_open' : 'closed'])),
  }));
  adminApp.use(drainRouter({ authenticate, drain, flush: () => drainStats.flush() }));
  adminApp.use(handoverRouter({ authenticate, jobs: handoverJobs }));
  adminApp.use(adminRouter({ service, canary, authenticate, splitView: () => split.view(), log }));
  adminApp.use(function notFound(_req, _res, next) { next(new GatewayError('not_found')); });
  adminApp.use(jsonErrors(log));

  return {
    dataApp, adminApp, live, metrics, backends, pins, canary,
    async start() { await live.start(); split.start(); canaryStats.start(); traffic.start(); drainStats.start(); await fence.start(); handover.start(); canary.run(); },
    drain() { draining = true; },
    async stop() {
      live.stop();
      split.stop();
      canaryStats.stop();
      traffic.stop();
      drainStats.stop();
      handover.stop();
      await fence.stop();
      await canary.stop();
      for (const b of backends.values()) b.shutdown();
      if (!deps.metrics) metrics.stop();
    },
  };
}
