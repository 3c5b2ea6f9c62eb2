/**
 * Two admin reads the ops console needs (issue 17): who the token is
 * (so the page can disable what it may not do), and live traffic per backend
 * over the last 15 minutes from every instance, with this instance's breakers.
 * Mounted before the main admin router; same Bearer tokens.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { GatewayError } from '../gateway/errors.ts';
import type { Principal } from '../gateway/control/auth.ts';
import { viaStore } from '../gateway/control/admin-service.ts';
import type { TrafficReading } from '../gateway/control/traffic-stats.ts';
import type { BreakerState } from '../gateway/metrics.ts';

export interface OverviewDeps {
  authenticate: (header: string | undefined) => Principal | null;
  traffic: () => Promise<TrafficReading>;
  /** Breaker state per backend on this instance. */
  breakers: () => Record<string, BreakerState>;
  /** Version of the ruleset this instance routes by. */
  rulesVersion: () => number | null;
}

export function adminOverviewRouter(deps: OverviewDeps): Router {
  const router = Router({ caseSensitive: true, strict: true });
  const guard = function requireReadToken(req: Request, _res: Response, next: NextFunction) {
    const principal = deps.authenticate(req.headers.authorization);
    // RFC 6750 section 3: a 401 names the scheme the client must use.
    if (!principal) return next(new GatewayError('unauthorized', { headers: { 'www-authenticate': 'Bearer realm="cutover-admin"' } }));
    req.principal = principal;
    next();
  };

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
