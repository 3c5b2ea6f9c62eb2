/**
 * Merchant traffic for the chaos run, and the ledger that judges it. Every
 * successful create is recorded with the backend that answered it (the
 * reference backends name themselves in `X-Backend`) and that backend's
 * incarnation; every follow-up and the final read-back are checked against
 * it. A follow-up answered by another backend is a misroute. A 404 from the
 * creating backend after that backend was restarted is expected (the
 * reference backends keep payments in memory); any other 404 from it is an
 * anomaly.
 */
import { performance } from 'node:perf_hooks';

export type Version = 'v1' | 'v2';
export interface Tx { id: string; order: string; version: Version; merchant: string; creator: string; creatorEpoch: number; refunds: number }

export interface Ledger {
  txs: Tx[];
  requests: number;
  createsOk: number;
  createsFailed: number;
  followUps: number;
  misroutes: { tx: Tx; call: string; answeredBy: string; status: number }[];
  anomalies: { tx: Tx; call: string; status: number }[];
  expectedLost404: number;
  /** 5xx and transport failures by `status code (origin)`. */
  failures: Record<string, number>;
}

export function newLedger(): Ledger {
  return { txs: [], requests: 0, createsOk: 0, createsFailed: 0, followUps: 0, misroutes: [], anomalies: [], expectedLost404: 0, failures: {} };
}

interface Answer { status: number; backend: string | null; json: Record<string, unknown> | null }

const TIMEOUT_MS = 5000;

async function call(base: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  const r = await fetch(`${base}${path}`, {
    method, signal: AbortSignal.timeout(TIMEOUT_MS),
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json: Record<string, unknown> | null = null;
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: r.status, backend: r.headers.get('x-backend'), json };
}

function countFailure(l: Ledger, a: Answer): void {
  if (a.status < 500) return;
  const key = `${a.status} ${String(a.json?.error ?? 'no-code')} (${a.backend ? `backend ${a.backend}` : 'gateway'})`;
  l.failures[key] = (l.failures[key] ?? 0) + 1;
}

export interface TrafficEnv { gateways: string[]; epochs: Record<string, number>; ledger: Ledger; merchants: number }

const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)];

let seq = 0;
async function create(env: TrafficEnv, version: Version): Promise<void> {
  const merchant = `M-${String(Math.floor(Math.random() * env.merchants)).padStart(4, '0')}`;
  const order = `CH${process.pid.toString(36)}${(seq++).toString(36)}`;
  const headers: Record<string, string> = { 'x-merchant-id': merchant };
  const a = version === 'v1'
    ? await call(pick(env.gateways), 'POST', '/api/v1/payments', headers, { out_trade_no: order, total_amount: '100.00', currency: 'CNY', subject: 'chaos order' })
    : await call(pick(env.gateways), 'POST', '/api/v2/payments', { ...headers, 'idempotency-key': `${order}-c` }, { merchantOrderId: order, amount: { value: 10_000, currency: 'CNY' }, description: 'chaos order' });
  countFailure(env.ledger, a);
  const id = a.json?.[version === 'v1' ? 'trade_no' : 'id'];
  if (a.status >= 200 && a.status < 300 && typeof id === 'string' && a.backend) {
    env.ledger.createsOk += 1;
    env.ledger.txs.push({ id, order, version, merchant, creator: a.backend, creatorEpoch: env.epochs[a.backend], refunds: 0 });
  } else {
    env.ledger.createsFailed += 1;
  }
}

/** One follow-up of a recorded transaction, judged against its creator. */
export async function followUp(env: TrafficEnv, tx: Tx, kind: 'get' | 'query' | 'refund', gateway = pick(env.gateways)): Promise<Answer> {
  const h = { 'x-merchant-id': tx.merchant };
  const v = tx.version;
  let a: Answer;
  if (kind === 'get') a = await call(gateway, 'GET', `/api/${v}/payments/${tx.id}`, h);
  else if (kind === 'query') a = await call(gateway, 'GET', `/api/${v}/payments?${v === 'v1' ? 'out_trade_no' : 'merchantOrderId'}=${tx.order}`, h);
  else {
    tx.refunds += 1;
    a = v === 'v1'
      ? await call(gateway, 'POST', `/api/v1/payments/${tx.id}/refund`, h, { out_request_no: `${tx.order}-r${tx.refunds}`, refund_amount: '0.01' })
      : await call(gateway, 'POST', `/api/v2/payments/${tx.id}/refunds`, { ...h, 'idempotency-key': `${tx.order}-r${tx.refunds}` }, { amount: { value: 1, currency: 'CNY' } });
  }
  const l = env.ledger;
  countFailure(l, a);
  if (a.backend && a.backend !== tx.creator) l.misroutes.push({ tx, call: `${v} ${kind}`, answeredBy: a.backend, status: a.status });
  else if (a.backend === tx.creator && a.status === 404) {
    if (env.epochs[tx.creator] !== tx.creatorEpoch) l.expectedLost404 += 1;
    else l.anomalies.push({ tx, call: `${v} ${kind}`, status: a.status });
  }
  return a;
}

/** One merchant call: a create (40 %) or a follow-up of a recent or an old transaction. */
async function oneCall(env: TrafficEnv): Promise<void> {
  const l = env.ledger;
  l.requests += 1;
  try {
    if (l.txs.length < 20 || Math.random() < 0.4) { await create(env, Math.random() < 0.5 ? 'v1' : 'v2'); return; }
    const recent = Math.random() < 0.7;
    const tx = recent ? l.txs[l.txs.length - 1 - Math.floor(Math.random() * Math.min(200, l.txs.length))] : pick(l.txs);
    const r = Math.random();
    l.followUps += 1;
    await followUp(env, tx, r < 0.45 ? 'get' : r < 0.8 ? 'query' : 'refund');
  } catch (err) {
    const key = `transport ${(err as Error).name === 'TimeoutError' ? 'timeout' : 'error'}`;
    l.failures[key] = (l.failures[key] ?? 0) + 1;
  }
}

/** Runs `workers` paced loops at `rate` calls/s in total until `stop()` says so. */
export async function runTraffic(env: TrafficEnv, o: { rate: number; workers: number; stop: () => boolean }): Promise<void> {
  const intervalMs = (1000 * o.workers) / o.rate;
  await Promise.all(Array.from({ length: o.workers }, async (_, w) => {
    await new Promise((r) => setTimeout(r, (intervalMs * w) / o.workers));
    while (!o.stop()) {
      const started = performance.now();
      await oneCall(env);
      const wait = intervalMs - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }));
}

export interface Verdict { checked: number; readBack: number; lostWithBackendMemory: number; lost: Tx[] }

/**
 * Reads every transaction back through the gateways, by id and by order
 * number, retrying 5xx and transport failures for a while (breakers may still
 * be open after the run).
 */
export async function verifyAll(env: TrafficEnv, o: { concurrency: number; patienceMs: number }): Promise<Verdict> {
  const v: Verdict = { checked: 0, readBack: 0, lostWithBackendMemory: 0, lost: [] };
  let next = 0;
  const until = performance.now() + o.patienceMs;
  const settled = async (tx: Tx, kind: 'get' | 'query', gateway: string): Promise<Answer | null> => {
    for (;;) {
      try {
        const a = await followUp(env, tx, kind, gateway);
        if (a.status < 500 || performance.now() > until) return a;
      } catch {
        if (performance.now() > until) return null;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, async () => {
    while (next < env.ledger.txs.length) {
      const i = next++;
      const tx = env.ledger.txs[i];
      const gw = env.gateways[i % env.gateways.length];
      const [byId, byOrder] = [await settled(tx, 'get', gw), await settled(tx, 'query', env.gateways[(i + 1) % env.gateways.length])];
      v.checked += 1;
      const ok = (a: Answer | null) => a !== null && a.status === 200 && a.backend === tx.creator;
      if (ok(byId) && ok(byOrder)) v.readBack += 1;
      else if (env.epochs[tx.creator] !== tx.creatorEpoch) v.lostWithBackendMemory += 1;
      else v.lost.push(tx);
    }
  }));
  return v;
}
