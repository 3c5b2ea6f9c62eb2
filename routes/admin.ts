/**
 * The admin API (SPEC 6) on the admin port. Every call needs a Bearer token;
 * writes need a token that is not read-only.
 */
import express, { Router, type Request } from 'express';
import { GatewayError } from '../gateway/errors.ts';
import { viaStore, type AdminService } from '../gateway/control/admin-service.ts';
import type { Principal } from '../gateway/control/auth.ts';
import type { Logger } from '../gateway/log.ts';
import { adminGuard } from './admin-guard.ts';

/** The canary controller's surface, as the admin API uses it. */
export interface CanaryApi {
  status(): Promise<unknown>;
  start(body: unknown, actor: string): Promise<unknown>;
  act(action: 'pause' | 'resume' | 'abort', actor: string): Promise<unknown>;
}

/**
 * The version an If-Match header asks for: the ETag of GET /admin/rules
 * ("3", weak W/"3" accepted). `*` matches any current version (RFC 9110
 * section 13.1.1), so it sets no condition.
 */
function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const m = /^(?:W\/)?"(\d{1,15})"$|^(\d{1,15})$/.exec(header.trim());
  if (!m) throw new GatewayError('invalid_header', { message: 'If-Match must be the ETag of GET /admin/rules, e.g. "3"' });
  return Number(m[1] ?? m[2]);
}

export function adminRouter(deps: {
  service: AdminService;
  canary?: CanaryApi;
  authenticate: (header: string | undefined) => Principal | null;
  splitView?: () => Promise<unknown>;
  /** Where refused admin calls (401, 403) are logged. */
  log?: Logger;
}): Router {
  const { service, canary } = deps;
  const router = Router({ caseSensitive: true, strict: true });

  router.use('/admin', adminGuard(deps));
  router.use('/admin', express.json({ limit: '1mb', strict: true, type: () => true }));
  const actor = (req: Request) => req.principal!.name;

  router.get('/admin/rules', async function getRules(_req, res) {
    const r = await service.currentRules();
    res.setHeader('etag', `"${r.version}"`);
    const effectiveSplit = await viaStore(async () => deps.splitView?.());
    res.json({ version: r.version, updatedAt: r.updatedAt, updatedBy: r.updatedBy, comment: r.comment, ...r.ruleset, effectiveSplit });
  });

  router.put('/admin/rules', async function putRules(req, res) {
    const stored = await service.putRules(req.body, actor(req), ifMatchVersion(req.headers['if-match']));
    res.setHeader('etag', `"${stored.version}"`);
    res.json({ version: stored.version, updatedAt: stored.updatedAt, updatedBy: stored.updatedBy, comment: stored.comment });
  });

  router.get('/admin/rules/history', async function history(_req, res) {
    res.json({ versions: await service.history() });
  });

  router.get('/admin/rules/versions/:n', async function oneVersion(req, res) {
    const n = Number(req.params.n);
    const v = Number.isInteger(n) && n > 0 ? await service.version(n) : null;
    if (!v) throw new GatewayError('not_found', { message: `No ruleset version ${req.params.n}` });
    res.json({ version: v.version, updatedAt: v.updatedAt, updatedBy: v.updatedBy, comment: v.comment, ...v.ruleset });
  });

  router.post('/admin/rules/rollback', async function rollback(req, res) {
    const stored = await service.rollback(req.body, actor(req));
    res.setHeader('etag', `"${stored.version}"`);
    res.json({ version: stored.version, updatedAt: stored.updatedAt, updatedBy: stored.updatedBy, rolledBackTo: req.body.version });
  });

  router.get('/admin/split', async function split(_req, res) {
    res.json({ rules: (await viaStore(async () => deps.splitView?.())) ?? [] });
  });

  router.get('/admin/merchants', async function listFlags(_req, res) {
    res.json({ merchants: await service.flags() });
  });

  router.get('/admin/merchants/:id', async function getFlag(req, res) {
    const f = await service.flag(req.params.id);
    if (!f) throw new GatewayError('not_found', { message: `No flag for merchant ${req.params.id}` });
    res.json(f);
  });

  router.put('/admin/merchants/:id', async function putFlag(req, res) {
    res.json(await service.putFlag(req.params.id, req.body, actor(req)));
  });

  router.delete('/admin/merchants/:id', async function deleteFlag(req, res) {
    const before = await service.deleteFlag(req.params.id, actor(req), req.body);
    if (!before) throw new GatewayError('not_found', { message: `No flag for merchant ${req.params.id}` });
    res.json({ deleted: before });
  });

  router.get('/admin/explain', async function explain(req, res) {
    const q = req.query as Record<string, string | undefined>;
    for (const [k, v] of Object.entries(q)) {
      if (typeof v !== 'string') throw new GatewayError('invalid_request', { details: [{ path: `/${k}`, message: 'must be given once' }] });
    }
    res.json(await service.explain(q));
  });

  router.get('/admin/pins/:id', async function getPin(req, res) {
    const pin = await service.pin(req.params.id);
    if (!pin) throw new GatewayError('not_found', { message: `No pin for transaction ${req.params.id}` });
    res.json({ transactionId: req.params.id, backend: pin.backend, pinnedAt: new Date(pin.pinnedAt).toISOString(), expiresAt: new Date(pin.expiresAt).toISOString() });
  });

  router.get('/admin/audit', async function audit(req, res) {
    const given = req.query.limit;
    const limit = given === undefined ? 1000 : Number(given);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new GatewayError('invalid_request', { details: [{ path: '/limit', message: 'must be an integer from 1 to 10000' }] });
    }
    res.json({ entries: await service.audit(limit) });
  });

  if (canary) {
    router.get('/admin/canary', async function getCanary(_req, res) { res.json(await viaStore(() => canary.status())); });
    router.put('/admin/canary', async function startCanary(req, res) { res.status(201).json(await viaStore(() => canary.start(req.body, actor(req)))); });
    for (const action of ['pause', 'resume', 'abort'] as const) {
      router.post(`/admin/canary/${action}`, async function canaryAction(req, res) { res.json(await viaStore(() => canary.act(action, actor(req)))); });
    }
  }

  router.use('/admin', function adminNotFound(_req, _res, next) { next(new GatewayError('not_found')); });
  return router;
}
