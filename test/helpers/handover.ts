/**
 * Hand-over test helpers: payments created through a gateway on `legacy`,
 * copied to `next` as a data migration would (the reference backends'
 * migration import), and a wait for a job to end.
 */
import assert from 'node:assert/strict';
import { adminCall, merchantPost, orderId, v1Create, type Backends, type RunningGateway } from './stack.ts';

export interface Created { merchant: string; transactionId: string; orderId: string }

/** Creates `n` v1 payments through `gws` in turn (they land on legacy), `concurrency` at a time. */
export async function createOnLegacy(gws: RunningGateway[], n: number, merchant: string, concurrency = 32): Promise<Created[]> {
  const out: Created[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < n; i = next++) {
      const order = orderId('ho');
      const r = await merchantPost(gws[i % gws.length], '/api/v1/payments', merchant, v1Create(order));
      assert.equal(r.status, 200, await r.clone().text());
      out[i] = { merchant, transactionId: (await r.json()).trade_no, orderId: order };
    }
  }));
  return out;
}

/** Copies payments from legacy to next, as a migration would; `alter` may change the copy (a migration bug). */
export function migrate(backends: Backends, txs: Created[], alter?: (p: any, i: number) => void): void {
  txs.forEach((t, i) => {
    const p = structuredClone(backends.legacy.state.store.find(t.merchant, t.transactionId)!);
    alter?.(p, i);
    assert.ok(backends.next.state.store.importPayment(p));
  });
}

/** Polls a job until it leaves `running`. */
export async function waitForJob(gw: RunningGateway, job: string, ms = 60_000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await (await adminCall(gw, 'GET', `/admin/handover/${job}`)).json();
    if (s.state !== 'running') return s;
    assert.ok(Date.now() < deadline, `job ${job} still running: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const rowsOf = (txs: Created[]) => txs.map((t) => ({ merchant: t.merchant, apiVersion: 'v1', transactionId: t.transactionId, orderId: t.orderId }));
