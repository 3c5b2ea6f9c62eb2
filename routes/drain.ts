/** The drain report on the admin port (issue 16, SPEC 11): GET /admin/drain. */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { GatewayError } from '../gateway/errors.ts';
import type { Principal } from '../gateway/control/auth.ts';
import type { DrainReport } from '../gateway/control/drain.ts';

/** Admin token check for the routers mounted beside routes/admin.ts (the same rules: 401 without, 403 read-only writes). */
export function requireAdmin(authenticate: (header: string | undefined) => Principal | null) {
  return function requireToken(req: Request, _res: Response, next: NextFunction) {
    const principal = authenticate(req.headers.authorization);
    if (!principal) return next(new GatewayError('unauthorized', { headers: { 'www-authenticate': 'Bearer realm="cutover-admin"' } }));
    if (req.method !== 'GET' && req.method !== 'HEAD' && principal.readOnly) return next(new GatewayError('forbidden'));
    req.principal = principal;
    next();
  };
}

/** A control-plane call whose uncoded failures come from the store: 503 store_unavailable. */
export async function viaStore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('store_unavailable', { cause: err, message: `The store cannot answer: ${(err as Error).message}` });
  }
}

export function drainRouter(deps: {
  authenticate: (header: string | undefined) => Principal | null;
  drain: { report(): Promise<DrainReport> };
  /** Adds this instance's pending counts to the store first, so that the report includes them. */
  flush(): Promise<void>;
}): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.get('/admin/drain', requireAdmin(deps.authenticate), async function drainReport(_req, res) {
    res.json(await viaStore(async () => { await deps.flush(); return deps.drain.report(); }));
  });
  return router;
}
