/**
 * What operations do to the gateways during the chaos run, through the
 * admin API of either instance: flip a rule and a merchant flag every
 * second (read-modify-write with If-Match, as a careful script would), and
 * drive a canary rollout.
 */
import { ADMIN_TOKEN } from './procs.ts';

export interface OpsCounts { ruleFlips: number; ruleFlipsFailed: number; flagFlips: number; flagFlipsFailed: number; conflicts: number }

/** The chaos ruleset: a flipped rule for twenty v1 merchants, v2 to next, and a v1 split for the canary (next at 0 %). */
export function chaosRules(flipTo: 'legacy' | 'next') {
  return {
    rules: [
      { name: 'flip', match: { apiVersion: 'v1', merchants: Array.from({ length: 20 }, (_, i) => `M-${String(i).padStart(4, '0')}`) }, backend: flipTo },
      { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
      { name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }], stickyBy: 'merchant' },
    ],
    default: 'legacy',
  };
}

const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

async function admin(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; etag: string | null }> {
  const r = await fetch(url, { method, headers: { ...auth, ...headers }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  let json: unknown = null;
  try { json = JSON.parse(text); } catch { /* empty */ }
  return { status: r.status, json, etag: r.headers.get('etag') };
}

export class Operator {
  readonly counts: OpsCounts = { ruleFlips: 0, ruleFlipsFailed: 0, flagFlips: 0, flagFlipsFailed: 0, conflicts: 0 };
  readonly #admins: string[];
  #tick = 0;

  constructor(adminUrls: string[]) { this.#admins = adminUrls; }

  #pick(): string { return this.#admins[this.#tick % this.#admins.length]; }

  /** Flips the `flip` rule's backend on the current ruleset (keeping the canary's weights), retrying once on a stale If-Match. */
  async flipRule(): Promise<void> {
    const base = this.#pick();
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const got = await admin(`${base}/admin/rules`, 'GET');
        if (got.status !== 200) break;
        const rules = (got.json.rules as { name: string; backend?: string }[]).map((r) => (r.name === 'flip' ? { ...r, backend: r.backend === 'next' ? 'legacy' : 'next' } : r));
        const put = await admin(`${base}/admin/rules`, 'PUT', { rules, default: got.json.default, comment: 'chaos: flip' }, got.etag ? { 'if-match': got.etag } : {});
        if (put.status === 200) { this.counts.ruleFlips += 1; return; }
        if (put.status !== 409) break;
        this.counts.conflicts += 1;
      }
    } catch { /* counted below */ }
    this.counts.ruleFlipsFailed += 1;
  }

  /** Sets or removes the flag of one of twenty merchants, in turn. */
  async flipFlag(): Promise<void> {
    const merchant = `M-${String(20 + (this.#tick % 20)).padStart(4, '0')}`;
    const set = Math.floor(this.#tick / 20) % 2 === 0;
    try {
      const r = set
        ? await admin(`${this.#pick()}/admin/merchants/${merchant}`, 'PUT', { backend: this.#tick % 3 === 0 ? 'legacy' : 'next', comment: 'chaos' })
        : await admin(`${this.#pick()}/admin/merchants/${merchant}`, 'DELETE');
      if (r.status === 200 || (!set && r.status === 404)) this.counts.flagFlips += 1; else this.counts.flagFlipsFailed += 1;
    } catch {
      this.counts.flagFlipsFailed += 1;
    }
  }

  async everySecond(): Promise<void> {
    this.#tick += 1;
    await Promise.all([this.flipRule(), this.flipFlag()]);
  }

  /** Starts a canary on `v1-canary`; a 404 means the canary API is not there. */
  async startCanary(stepSeconds: number): Promise<string> {
    const body = {
      rule: 'v1-canary', backend: 'next', steps: [5, 25, 50, 100], stepSeconds,
      gates: { max5xxRatio: 0.05, maxP99Ms: 2500, minRequests: 10 }, onFail: 'rollback', comment: 'chaos run',
    };
    try {
      const r = await admin(`${this.#admins[0]}/admin/canary`, 'PUT', body);
      if (r.status === 404) return 'canary API not available (PUT /admin/canary answered 404); no canary was stepped';
      return `PUT /admin/canary answered ${r.status}${r.status >= 400 ? `: ${JSON.stringify(r.json)}` : ''}`;
    } catch (err) {
      return `PUT /admin/canary failed: ${(err as Error).message}`;
    }
  }

  async canaryStatus(): Promise<string> {
    try {
      const r = await admin(`${this.#admins[1] ?? this.#admins[0]}/admin/canary`, 'GET');
      if (r.status === 404) return 'canary API not available';
      const j = r.json ?? {};
      const last = Array.isArray(j.history) && j.history.length > 0 ? j.history[j.history.length - 1] : undefined;
      return `state ${j.state}, step ${j.step}, weight ${j.weight}${last ? `, last: ${last.action} (${last.reason})` : ''}`;
    } catch (err) {
      return `GET /admin/canary failed: ${(err as Error).message}`;
    }
  }
}
