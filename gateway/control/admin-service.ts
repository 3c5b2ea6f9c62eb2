/**
 * The control plane's operations: rules (versioned, compare-and-set),
 * rollback, merchant flags, explain, pins and audit. Every write is
 * validated, audited, published to every instance, and applied on this
 * instance before the call answers.
 */
import type { Config } from '../config.ts';
import { decide, type DecideEnv, type Subject } from '../data/decide.ts';
import { previewClaims } from '../data/claims.ts';
import { GatewayError } from '../errors.ts';
import { identify, MERCHANT_ID, queryParams, type Identified } from '../data/identify.ts';
import { pinKey, type PinService } from '../pins.ts';
import { rulesetProblems, type Ruleset } from '../rules.ts';
import { check } from '../schemas.ts';
import { VersionConflictError, type AuditEntry, type MerchantFlag, type Store, type StoredRuleset } from '../store/types.ts';
import type { LiveRouting } from './live.ts';
import type { Logger } from '../log.ts';

/**
 * Runs a control-plane call whose failures other than coded ones (and a ruleset
 * version conflict, which its caller answers) come from the store: those answer
 * 503 `store_unavailable` rather than 500. The admin routes use it too.
 */
export async function viaStore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GatewayError || err instanceof VersionConflictError) throw err;
    throw new GatewayError('store_unavailable', { cause: err, message: `The store cannot answer: ${(err as Error).message}` });
  }
}

export interface ExplainQuery {
  apiVersion?: string; merchant?: string; path?: string; orderId?: string; method?: string; idempotencyKey?: string;
}

export class AdminService {
  readonly #store: Store;
  readonly #config: Readonly<Config>;
  readonly #live: LiveRouting;
  readonly #pins: PinService;
  readonly #env: DecideEnv;

  readonly #log: Logger;

  constructor(deps: { store: Store; config: Readonly<Config>; live: LiveRouting; pins: PinService; env: DecideEnv; log: Logger }) {
    this.#log = deps.log;
    this.#store = deps.store;
    this.#config = deps.config;
    this.#live = deps.live;
    this.#pins = deps.pins;
    this.#env = deps.env;
  }

  async currentRules(): Promise<StoredRuleset> {
    const r = await viaStore(() => this.#store.getRules());
    if (!r) throw new GatewayError('store_unavailable', { message: 'No ruleset is stored yet' });
    return r;
  }

  history() { return viaStore(() => this.#store.rulesHistory()); }

  async version(n: number): Promise<StoredRuleset | null> {
    return viaStore(() => this.#store.getRulesVersion(n));
  }

  /** Validates and stores a new ruleset version; `ifVersion` from If-Match. */
  async putRules(body: unknown, actor: string, ifVersion?: number, action = 'rules.put'): Promise<StoredRuleset> {
    const { comment, ...rest } = (body && typeof body === 'object' ? body : {}) as Ruleset & { comment?: string };
    const problems = rulesetProblems(body, this.#config.backends);
    if (problems.length > 0) throw new GatewayError('invalid_ruleset', { details: problems });
    const ruleset = rest as Ruleset;
    return viaStore(async () => {
      let stored: StoredRuleset;
      try {
        stored = await this.#store.putRules(ruleset, { actor, comment, ifVersion, now: new Date() });
      } catch (err) {
        if (err instanceof VersionConflictError) {
          throw new GatewayError('version_conflict', { message: `The ruleset is at version ${err.current}; re-read it and retry`, details: { current: err.current } });
        }
        throw err;
      }
      await this.#afterWrite({ kind: 'rules', version: stored.version }, async () => {
        // The version this one replaced, read after the write: exact even when writers race without If-Match.
        const before = stored.version > 1
          ? await this.#store.getRulesVersion(stored.version - 1).then((b) => b && { version: b.version, ruleset: b.ruleset }, () => ({ version: stored.version - 1 }))
          : null;
        return this.#entry(actor, action, 'rules', before, { version: stored.version, ruleset: stored.ruleset, comment });
      });
      return stored;
    });
  }

  /** `body`: `{version}`, the version whose content becomes a new version. */
  async rollback(body: unknown, actor: string): Promise<StoredRuleset> {
    const problems = check('rollback', body ?? {});
    if (problems.length > 0) throw new GatewayError('invalid_request', { details: problems });
    const { version } = body as { version: number };
    const old = await this.version(version);
    if (!old) throw new GatewayError('not_found', { message: `No ruleset version ${version}` });
    return this.putRules({ ...old.ruleset, comment: `rollback to version ${version}` }, actor, undefined, 'rules.rollback');
  }

  flags() { return viaStore(() => this.#store.listFlags()); }

  async flag(merchant: string): Promise<MerchantFlag | null> {
    return viaStore(() => this.#store.getFlag(merchant));
  }

  async putFlag(merchant: string, body: unknown, actor: string): Promise<MerchantFlag> {
    const b = (body ?? {}) as { backend?: unknown; comment?: unknown };
    const problems = check('merchant-flag', b);
    if (!MERCHANT_ID.test(merchant)) problems.unshift({ path: '/merchant', message: 'must be 1-64 characters [A-Za-z0-9_.-]' });
    // Which backends exist is the configuration's to say, not the schema's.
    if (typeof b.backend === 'string' && !this.#config.backends[b.backend]) {
      problems.push({ path: '/backend', message: `must be one of ${Object.keys(this.#config.backends).join(', ')}` });
    }
    if (problems.length > 0) throw new GatewayError('invalid_request', { details: problems });
    const flag: MerchantFlag = {
      merchant, backend: b.backend as string, updatedAt: new Date().toISOString(), updatedBy: actor,
      ...(typeof b.comment === 'string' ? { comment: b.comment } : {}),
    };
    return viaStore(async () => {
      const before = await this.#store.putFlag(flag);
      await this.#afterWrite({ kind: 'flags', merchant }, async () => this.#entry(actor, 'merchant.put', merchant, before, flag));
      return flag;
    });
  }

  /** Removes a flag; `body` may give `{comment}`, the reason, recorded in the audit entry. */
  async deleteFlag(merchant: string, actor: string, body?: unknown): Promise<MerchantFlag | null> {
    const b = (body ?? {}) as { comment?: unknown };
    const problems = check('merchant-flag-delete', b);
    if (problems.length > 0) throw new GatewayError('invalid_request', { details: problems });
    const comment = typeof b.comment === 'string' ? b.comment : undefined;
    return viaStore(async () => {
      const before = await this.#store.deleteFlag(merchant);
      if (before) {
        await this.#afterWrite({ kind: 'flags', merchant }, async () => ({ ...this.#entry(actor, 'merchant.delete', merchant, before, null), ...(comment ? { comment } : {}) }));
      }
      return before;
    });
  }

  audit(limit: number) { return viaStore(() => this.#store.listAudit(limit)); }

  #entry(actor: string, action: string, target: string, before: unknown, after: unknown): AuditEntry {
    return { time: new Date().toISOString(), actor, action, target, before: before ?? null, after: after ?? null };
  }

  /**
   * Once a change is stored it has happened: apply and announce it, then
   * audit it. A failure after the write never turns into an error answer
   * (the caller would retry and make a second version); an audit entry that
   * cannot be written is logged whole and retried in the background.
   */
  async #afterWrite(event: { kind: 'rules' | 'flags'; version?: number; merchant?: string }, entry: () => Promise<AuditEntry>): Promise<void> {
    await this.#live.changed(event).catch((err) => this.#log.error({ err: (err as Error).message, event }, 'could not apply a stored change here; the periodic re-read will'));
    let audit: AuditEntry | undefined;
    try {
      audit = await entry();
      await this.#store.appendAudit(audit);
    } catch (err) {
      this.#log.error({ err: (err as Error).message, audit }, 'audit entry not written yet; retrying');
      if (audit) void this.#retryAudit(audit);
    }
  }

  async #retryAudit(audit: AuditEntry, attempt = 1): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)).unref());
    try {
      await this.#store.appendAudit(audit);
    } catch (err) {
      if (attempt < 8) return this.#retryAudit(audit, attempt + 1);
      this.#log.error({ err: (err as Error).message, audit }, 'audit entry lost after retries');
    }
  }

  /** What the data plane would do now for such a request, without doing it (no pin is written). */
  async explain(q: ExplainQuery) {
    const apiVersion = q.apiVersion ?? /^\/api\/(v[12])\//.exec(q.path ?? '')?.[1];
    const problems: { path: string; message: string }[] = [];
    if (apiVersion !== 'v1' && apiVersion !== 'v2') problems.push({ path: '/apiVersion', message: 'must be v1 or v2' });
    if (!q.merchant || !MERCHANT_ID.test(q.merchant)) problems.push({ path: '/merchant', message: 'is required: 1-64 characters [A-Za-z0-9_.-]' });
    if (problems.length > 0) throw new GatewayError('invalid_request', { details: problems });
    const method = (q.method ?? (q.path ? 'GET' : 'POST')).toUpperCase();
    const path = q.path ?? `/api/${apiVersion}/payments`;
    if (!path.startsWith(`/api/${apiVersion}/`)) throw new GatewayError('invalid_request', { details: [{ path: '/path', message: `is not under /api/${apiVersion}/` }] });
    // One snapshot of the routing state for the whole answer, so that the version reported is the one decided by.
    const env: DecideEnv = { ...this.#env, state: this.#env.state };
    const rulesVersion = env.state.rules.version;
    let t: Identified | undefined;
    try {
      // A path the data plane would refuse (unsafe spelling, wrong method) is explained as that refusal.
      t = identify(method, path, new Set(this.#config.unmodelled.methods));
      const orderId = q.orderId ?? queryParams(t).get(t.orderField) ?? undefined;
      if ((t.endpoint === 'create' || t.endpoint === 'query') && !orderId) {
        throw new GatewayError('invalid_request', { details: [{ path: '/orderId', message: `is required to explain a ${t.endpoint}` }] });
      }
      const subject: Subject = { t, merchant: q.merchant!, method, orderId, idempotencyKey: q.idempotencyKey, header: () => undefined };
      // The same decision as the data path's; a create's claims are looked at, not made.
      const d = await previewClaims(env.pins, env, subject, await decide(env, subject));
      return { backend: d.backend, reason: d.reason, rule: d.rule, bucket: d.bucket, pinned: d.pinned, rulesVersion, endpoint: t.endpoint };
    } catch (err) {
      if (!(err instanceof GatewayError) || (err.code === 'invalid_request' && err.details)) throw err;
      return { backend: null, reason: 'refused', pinned: false, refusal: { status: err.status, error: err.code, message: err.message }, rulesVersion, endpoint: t?.endpoint ?? null };
    }
  }

  async pin(transactionId: string) {
    return this.#pins.lookup(pinKey.transaction(transactionId));
  }
}
