/**
 * The one token guard of the admin API (SPEC 6): every admin router puts it
 * in front of its routes, so that every refusal is answered and logged alike.
 */
import type { NextFunction, Request, Response } from 'express';
import { GatewayError } from '../gateway/errors.ts';
import type { Principal } from '../gateway/control/auth.ts';
import type { Logger } from '../gateway/log.ts';

declare module 'express-serve-static-core' {
  interface Request { principal?: Principal }
}

export interface GuardDeps {
  authenticate: (header: string | undefined) => Principal | null;
  /** Where refused admin calls (401, 403) are logged. */
  log?: Logger;
}

/**
 * Middleware that needs a Bearer token on every call and a token that is not
 * read-only on every call other than GET and HEAD; sets `req.principal`.
 *
 * A refused call leaves a log line (who, from where, what), so that token
 * guessing and a read-only token used for writes are seen (issue 13). Never
 * the token or the Authorization header; the path without its query string.
 */
export function adminGuard(deps: GuardDeps) {
  function refuse(req: Request, next: NextFunction, err: GatewayError, actor: string): void {
    deps.log?.warn({
      status: err.status, error: err.code, actor, remoteAddress: req.socket.remoteAddress, method: req.method,
      path: req.originalUrl.split('?')[0],
    }, 'admin call refused');
    next(err);
  }
  return function requireToken(req: Request, _res: Response, next: NextFunction): void {
    const principal = deps.authenticate(req.headers.authorization);
    // RFC 6750 section 3: a 401 names the scheme the client must use.
    if (!principal) return refuse(req, next, new GatewayError('unauthorized', { headers: { 'www-authenticate': 'Bearer realm="cutover-admin"' } }), 'unknown');
    if (req.method !== 'GET' && req.method !== 'HEAD' && principal.readOnly) return refuse(req, next, new GatewayError('forbidden'), principal.name);
    req.principal = principal;
    next();
  };
}
