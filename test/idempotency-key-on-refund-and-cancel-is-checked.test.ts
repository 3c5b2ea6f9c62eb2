import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { merchantPost, orderId, startGateway, testConfig, v2Create, type RunningGateway } from './helpers/stack.ts';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { created, startScriptedBackend, type ScriptedBackend } from './helpers/scripted-backend.ts';

// SPEC 10: a v2 Idempotency-Key that comes back with another merchant, method, path or body
// is 422 idempotency_key_mismatch and is not forwarded. Every v2 POST carries a key, so a
// refund's and a cancel's keys are fingerprinted like a create's: a refund retried with
// another amount, a create's key reused on a refund, a refund's key reused on a cancel.

const refund = (value: number) => ({ amount: { value, currency: 'CNY' } });

function stores(label: string, withRedis: boolean): void {
  describe(label, () => {
    let redis: TestRedis | undefined;
    let next: ScriptedBackend;
    let legacy: ScriptedBackend;
    let gw: RunningGateway;
    before(async () => {
      if (withRedis) redis = await startRedis();
      [legacy, next] = await Promise.all([startScriptedBackend(), startScriptedBackend()]);
      // Refunds and cancels answer 201/200 like the reference backend; a refund of 7 is refused (a definite 4xx).
      next.reply = (r) => (r.url.endsWith('/refunds')
        ? (JSON.parse(r.body).amount.value === 7 ? { status: 400, body: { error: 'invalid amount' } } : { status: 201, body: { id: 're_1', status: 'succeeded' } })
        : r.url.endsWith('/cancel') ? { status: 200, body: { status: 'canceled' } } : created(r, `pay_${orderId('ID')}`));
      gw = await startGateway(testConfig({ legacy: legacy.url, next: next.url }), { redisUrl: redis?.url });
    });
    after(async () => { await gw?.close(); await legacy?.close(); await next?.close(); await redis?.close(); });

    const post = (path: string, key: string, body: unknown) => merchantPost(gw, path, 'M-RKEY', body, { 'idempotency-key': key });

    async function payment(): Promise<{ id: string; createKey: string }> {
      const createKey = `create-${orderId()}`;
      const res = await post('/api/v2/payments', createKey, v2Create(orderId('RKEY')));
      assert.equal(res.status, 201);
      return { id: ((await res.json()) as { id: string }).id, createKey };
    }

    async function mismatch(res: Response): Promise<void> {
      assert.equal(res.status, 422);
      assert.equal(((await res.json()) as { error: string }).error, 'idempotency_key_mismatch');
    }

    test('a refund retried with its key and another amount is 422 and not forwarded; the same refund again is', async () => {
      const { id } = await payment();
      const key = `refund-${orderId()}`;
      assert.equal((await post(`/api/v2/payments/${id}/refunds`, key, refund(100))).status, 201);
      const forwarded = next.received.length;
      await mismatch(await post(`/api/v2/payments/${id}/refunds`, key, refund(900)));
      assert.equal(next.received.length, forwarded, 'the other amount never reached the backend');
      assert.equal((await post(`/api/v2/payments/${id}/refunds`, key, refund(100))).status, 201);
      assert.equal(next.received.length, forwarded + 1, 'the same refund is forwarded once more, for the backend to answer');
      assert.deepEqual(JSON.parse(next.received.at(-1)!.body), refund(100));
    });

    test('a create\'s key on a refund, and a refund\'s key on a cancel, are 422 and not forwarded', async () => {
      const { id, createKey } = await payment();
      const forwarded = next.received.length;
      await mismatch(await post(`/api/v2/payments/${id}/refunds`, createKey, refund(100)));
      const refundKey = `refund-${orderId()}`;
      assert.equal((await post(`/api/v2/payments/${id}/refunds`, refundKey, refund(100))).status, 201);
      await mismatch(await post(`/api/v2/payments/${id}/cancel`, refundKey, {}));
      assert.equal(next.received.length, forwarded + 1, 'only the refund with its own key was forwarded');
      assert.equal(legacy.received.length, 0);
    });

    test('a refund its backend refused gives its key back: the key may carry a corrected refund', async () => {
      const { id } = await payment();
      const key = `refund-${orderId()}`;
      assert.equal((await post(`/api/v2/payments/${id}/refunds`, key, refund(7))).status, 400);
      const corrected = await post(`/api/v2/payments/${id}/refunds`, key, refund(50));
      assert.equal(corrected.status, 201);
      assert.deepEqual(JSON.parse(next.received.at(-1)!.body), refund(50));
    });
  });
}

stores('embedded store', false);
stores('redis store', true);
