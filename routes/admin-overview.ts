/**
 * Two admin reads the ops console needs (issue 17): who the token is
 * (so the page can disable what it may not do), and live traffic per backend
 * over the last 15 minutes from every instance, with this instance's breakers.
 * Mounted before the main admin router; the same token guard (admin-guard.ts).
 */
import { Router } from 'express';
import type { Principal } from '../gateway/control/auth.ts';
import { viaStore } from '../gateway/control/admin-service.ts';
import type { TrafficReading } from '../gateway/control/traffic-stats.ts';
import type { BreakerState } from '../gateway/metrics.ts';
import type { Logger } from '../gateway/log.ts';
import { adminGuard } from './admin-guard.ts';

export interface OverviewDeps {
  authenticate: (header: string | undefined) => Principal | null;
  traffic: () => Promise<TrafficReading>;
  /** Breaker state per backend on this instance. */
  breakers: () => Record<string, BreakerState>;
  /** Version of the ruleset this instance routes by. */
  rulesVersion: () => number | null;
  /** Where refused calls (401) are logged. */
  log?: Logger;
}

export function adminOverviewRouter(deps: OverviewDeps): Router {
  const router = Router({ caseSensitive: true, strict: true });
  const guard = adminGuard(deps);

  router.get('/admin/whoami', guard, function whoami(req, res) {
    res.json({ name: req.principal!.name, readOnly: req.principal!.readOnly });
  });

  router.get('/admin/traffic', guard, async function traffic(_req, res) {
    const reading = await viaStore(() => deps.traffic());
    const breakers = deps.breakers();
    res.json({
      ...reading,
      rulesVersion: deps.rulesVersion(),
      backends: reading.backends.map((b) => ({ ...b, breaker: breakers[b.backend] ?? null })),
    });
  });

  return router;
}
