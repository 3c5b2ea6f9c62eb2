/** Liveness and readiness for orchestrators and scripts (admin port, no token). */
import { Router } from 'express';

export interface HealthProbe {
  /** Resolves when the store answers. */
  storeReachable(): Promise<boolean>;
  rulesLoaded(): boolean;
  draining(): boolean;
  /** Switch-off guard warnings of the drain report (they do not make the instance unready). */
  warnings?(): string[];
}

export function healthRouter(probe: HealthProbe): Router {
  const router = Router();
  router.get('/healthz', function healthz(_req, res) {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async function readyz(_req, res) {
    const [store, rules] = [await probe.storeReachable(), probe.rulesLoaded()];
    const ready = store && rules && !probe.draining();
    const warnings = probe.warnings?.() ?? [];
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not_ready', store: store ? 'ok' : 'unreachable', rules: rules ? 'loaded' : 'missing', draining: probe.draining(),
      ...(warnings.length ? { warnings } : {}),
    });
  });
  return router;
}
