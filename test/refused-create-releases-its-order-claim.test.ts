import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall, merchantPost, orderId, startGateway, testConfig, v1Create, v2Create, type RunningGateway } from './helpers/stack.ts';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { created, startScriptedBackend, type Received, type ScriptedBackend } from './helpers/scripted-backend.ts';

// Issue 13: a create whose backend answered a definite refusal (a 4xx other than 409) gives
// its order number (and idempotency key) back, so that the next create of that order follows
// the rules of the day; a 5xx, a 409 or a timeout keeps them (the payment may exist). A
// concurrent create of the same order that succeeded on that backend keeps the order pinned,
// whichever answer comes first. Each case checks what each recording backend received.

function stores(label: string, withRedis: boolean): void {
  describe(label, () => {
    let redis: TestRedis | undefined;
    let legacy: ScriptedBackend;
    let next: ScriptedBackend;
    let gw: RunningGateway;
    before(async () => {
      if (withRedis) redis = await startRedis();
      [legacy, next] = await Promise.all([startScriptedBackend(), startScriptedBackend()]);
      const raw = testConfig({ legacy: legacy.url, next: next.url });
      raw.backends = {
        legacy: { url: legacy.url, apiVersions: ['v1', 'v2'], timeoutMs: 500 },
        next: { url: next.url, apiVersions: ['v1', 'v2'], timeoutMs: 500 },
      };
      gw = await startGateway(raw, { redisUrl: redis?.url });
    });
    after(async () => { await gw?.close(); await legacy?.close(); await next?.close(); await redis?.close(); });

    const forOrder = (b: ScriptedBackend, order: string) => b.received.filter((r) => r.body.includes(order)).length;
    /** Sends the merchant to `next` from now on (a merchant flag): new transactions go there, pinned ones stay. */
    async function flip(merchant: string): Promise<void> {
      assert.equal((await adminCall(gw, 'PUT', `/admin/merchants/${merchant}`, { backend: 'next' })).status, 200);
    }
    const create = (merchant: string, order: string) => merchantPost(gw, '/api/v1/payments', merchant, v1Create(order));

    test('a create refused with a 4xx gives its order back: the next create of that order follows the current rules', async () => {
      const merchant = `M-REF-${withRedis ? 'R' : 'E'}`;
      const order = orderId('REFUSED');
      legacy.reply = () => ({ status: 400, body: { code: '40004', sub_code: 'INVALID_PARAMETER' } });
      const first = await create(merchant, order);
      assert.equal(first.status, 400);
      assert.equal(first.headers.get('x-cutover-backend'), 'legacy');
      await flip(merchant);
      next.reply = (r) => created(r, 'pay_after_refusal');
      const second = await create(merchant, order);
      assert.equal(second.status, 201);
      assert.equal(second.headers.get('x-cutover-backend'), 'next');
      assert.equal(second.headers.get('x-cutover-reason'), 'merchant-flag');
      assert.equal(forOrder(legacy, order), 1, 'legacy got the refused create once');
      assert.equal(forOrder(next, order), 1, 'next got the second create once');
    });

    for (const [what, status] of [['a 5xx', 500], ['a 409', 409], ['a timeout', 0]] as const) {
      test(`a create answered with ${what} keeps its order pinned to that backend`, async () => {
        const merchant = `M-KEEP-${status}-${withRedis ? 'R' : 'E'}`;
        const order = orderId('KEPT');
        const held: Received[] = [];
        legacy.reply = (r) => {
          if (status !== 0) return { status, body: { code: '20000' } };
          held.push(r);
          return 'hold';
        };
        const first = await create(merchant, order);
        assert.equal(first.status, status === 0 ? 504 : status);
        for (const r of held) r.answer(500);
        await flip(merchant);
        legacy.reply = (r) => created(r, `pay_kept_${status}`);
        const second = await create(merchant, order);
        assert.equal(second.status, 201);
        assert.equal(second.headers.get('x-cutover-backend'), 'legacy');
        assert.equal(second.headers.get('x-cutover-reason'), 'pinned');
        assert.equal(forOrder(legacy, order), 2);
        assert.equal(forOrder(next, order), 0, 'next never saw the order');
      });
    }

    for (const first of ['success', 'refusal'] as const) {
      test(`a refusal racing a concurrent success of the same order leaves the order pinned (the ${first} answered first)`, async () => {
        const merchant = `M-RACE-${first}-${withRedis ? 'R' : 'E'}`;
        const order = orderId('RACE');
        legacy.reply = () => 'hold';
        const base = legacy.received.length;
        // The claimant reaches legacy, then a second create of the order finds the claim and follows it.
        const claimant = create(merchant, order);
        await legacy.arrived(base + 1);
        const follower = create(merchant, order);
        await legacy.arrived(base + 2);
        const [claimantCall, followerCall] = legacy.received.slice(base);
        const answers = {
          success: async () => { followerCall.answer(201, { trade_no: `pay_race_${first}`, code: '10000' }); assert.equal((await follower).status, 201); },
          refusal: async () => { claimantCall.answer(400, { code: '40004' }); assert.equal((await claimant).status, 400); },
        };
        if (first === 'success') { await answers.success(); await answers.refusal(); } else { await answers.refusal(); await answers.success(); }

        await flip(merchant);
        legacy.reply = (r) => created(r, `pay_race_retry_${first}`);
        const third = await create(merchant, order);
        assert.equal(third.headers.get('x-cutover-backend'), 'legacy');
        assert.equal(third.headers.get('x-cutover-reason'), 'pinned');
        assert.equal(forOrder(legacy, order), 3);
        assert.equal(forOrder(next, order), 0, 'the order never reached next');
      });
    }

    test('a refused v2 create frees its idempotency key; a create answered 5xx keeps it', async () => {
      const merchant = `M-KEY-${withRedis ? 'R' : 'E'}`;
      const send = (key: string, order: string, value: number) => merchantPost(gw, '/api/v2/payments', merchant, v2Create(order, value), { 'idempotency-key': key });
      const freed = `key-freed-${orderId()}`;
      next.reply = () => ({ status: 400, body: { error: 'invalid_request' } });
      assert.equal((await send(freed, orderId('K1'), 100)).status, 400);
      next.reply = (r) => created(r, 'pay_key_second');
      const again = await send(freed, orderId('K2'), 200);
      assert.equal(again.status, 201, 'the key was free again for another request');

      const kept = `key-kept-${orderId()}`;
      next.reply = () => ({ status: 502, body: { error: 'upstream' } });
      assert.equal((await send(kept, orderId('K3'), 100)).status, 502);
      const before = next.received.length;
      const other = await send(kept, orderId('K4'), 200);
      assert.equal(other.status, 422);
      assert.equal((await other.json() as { error: string }).error, 'idempotency_key_mismatch');
      assert.equal(next.received.length, before, 'the mismatching create was not forwarded');
    });
  });
}

stores('embedded store', false);
stores('redis store', true);
