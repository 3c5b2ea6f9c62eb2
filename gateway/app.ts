/**
 * buildApp(deps): wires the data plane and the control plane without
 * listening. `main` only reads config, builds, listens and handles signals;
 * tests build apps directly on port 0.
 */
import type { RequestListener } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from './config.ts';
import { GuardedBackend } from './breakers.ts';
import { BackendProxy } from './proxy.ts';
import { createDataPlane, sendError } from './pipeline.ts';
import { Metrics } from './metrics.ts';
import type { Logger } from './log.ts';
import { PinService } from './pins.ts';
import type { Store } from './store/types.ts';
import { LiveRouting } from './control/live.ts';
import { AdminService } from './control/admin-service.ts';
import { createAuthenticator } from './control/auth.ts';
import { SplitTracker } from './control/split-tracker.ts';
import { CanaryController } from './control/canary.ts';
import { CanaryStats } from './control/canary-stats.ts';
import { DrainStats } from './control/drain-stats.ts';
import { DrainReporter } from './control/drain.ts';
import { PinFence } from './control/pin-fence.ts';
import { InFlight } from './control/in-flight.ts';
import { HandoverJobs } from './control/handover-jobs.ts';
import { HandoverRunner } from './control/handover-runner.ts';
import type { DecideEnv } from './decide.ts';
import { GatewayError } from './errors.ts';
import { merchantRoutes } from '../routes/merchant.ts';
import { adminRouter } from '../routes/admin.ts';
import { healthRouter } from '../routes/health.ts';
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
  /** The data port's request handler (no router: see routes/merchant.ts). */
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
    sendError(res, mapped, req.headers['x-request-id'] as string | undefined, log);
  };
}

export function buildApp(deps: AppDeps): Gateway {
  const { config, store, log } = deps;
  const metrics = deps.metrics ?? new Metrics();
  const now = deps.now ?? Date.now;
  const ttlMs = config.pins.ttlDays * 86_400_000;
  const pins = new PinService(store, {
    cacheSize: config.pins.cacheSize, ttlMs, now,
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
  const drainStats = new DrainStats(store);
  const inFlight = new InFlight();
  const fence = new PinFence({ store, pins, log, settle: () => inFlight.settle(3000) });
  const handle = createDataPlane({
    config, live, pins, backends, unpinned, metrics, log,
    onNewTransaction: (d, s) => split.record(d, s),
    onAnswered(backend, status, seconds, endpoint, pinned) {
      canaryStats.observe(backend, status, seconds);
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
  const decideEnv = (): DecideEnv => ({
    state: live.state, backends: config.backends, unpinned, pins, isOpen: (n) => backends.get(n)?.isOpen ?? false,
  });
  const service = new AdminService({ store, config, live, pins, decideEnv, log });
  const canary = new CanaryController({ store, admin: service, stats: canaryStats, metrics, log, tickMs: deps.canaryTickMs });
  let draining = false;

  const dataApp = merchantRoutes(inFlight.track(handle));

  const adminApp = express();
  adminApp.disable('x-powered-by');
  adminApp.use(healthRouter({
    storeReachable: () => store.ping().then(() => true, () => false),
    rulesLoaded: () => live.loaded,
    draining: () => draining,
    warnings: () => drain.warnings(),
  }));
  adminApp.get('/metrics', async function metricsEndpoint(_req, res) {
    await split.view().catch(() => {});
    metrics.pinCacheEntries.set(pins.cachedPins);
    res.setHeader('content-type', metrics.registry.contentType);
    res.end(await metrics.registry.metrics());
  });
  const authenticate = createAuthenticator(config.admin.tokens);
  adminApp.use(drainRouter({ authenticate, drain, flush: () => drainStats.flush() }));
  adminApp.use(handoverRouter({ authenticate, jobs: handoverJobs }));
  adminApp.use(adminRouter({ service, canary, authenticate, splitView: () => split.view() }));
  adminApp.use(function notFound(_req, _res, next) { next(new GatewayError('not_found')); });
  adminApp.use(jsonErrors(log));

  return {
    dataApp, adminApp, live, metrics, backends, pins, canary,
    async start() { await live.start(); split.start(); canaryStats.start(); drainStats.start(); await fence.start(); handover.start(); canary.run(); },
    drain() { draining = true; },
    async stop() {
      live.stop();
      split.stop();
      canaryStats.stop();
      drainStats.stop();
      handover.stop();
      await fence.stop();
      await canary.stop();
      for (const b of backends.values()) b.shutdown();
      if (!deps.metrics) metrics.stop();
    },
  };
}
