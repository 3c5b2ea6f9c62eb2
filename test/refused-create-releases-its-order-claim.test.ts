import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall, merchantPost, orderId, v1Create, v2Create } from './helpers/stack.ts';
import { created, useScriptedStack, type Received, type ScriptedBackend } from './helpers/scripted-backend.ts';

// Issue 13: a create whose backend answered a definite refusal (a 4xx other than 409) gives
// its order number (and idempotency key) back, so that the next create of that order follows
// the rules of the day; a 5xx, a 409 or a timeout keeps them (the payment may exist). A
// concurrent create of the same order that succeeded on that backend keeps the order pinned,
// whichever answer comes first. Each case checks what each recording backend received.

/** Both backends speak v1 and v2 and time out after 500 ms. */
const bothVersionsQuickTimeout = (raw: Record<string, unknown>) => ({
  ...raw,
  backends: Object.fromEntries(Object.entries(raw.backends as Record<string, object>).map(([name, b]) => [name, { ...b, apiVersions: ['v1', 'v2'], timeoutMs: 500 }])),
});

function stores(label: string, withRedis: boolean): void {
  describe(label, () => {
    const stack = useScriptedStack({ redis: withRedis, edit: bothVersionsQuickTimeout });

    const forOrder = (b: ScriptedBackend, order: string) => b.received.filter((r) => r.body.includes(order)).length;
    /** Sends the merchant to `next` from now on (a merchant flag): new transactions go there, pinned ones stay. */
    async function flip(merchant: string): Promise<void> {
      assert.equal((await adminCall(stack.gw, 'PUT', `/admin/merchants/${merchant}`, { backend: 'next' })).status, 200);
    }
    const create = (merchant: string, order: string) => merchantPost(stack.gw, '/api/v1/payments', merchant, v1Create(order));
    /**
     * Holds two creates of one order at legacy: the claimant reaches legacy first, then a second
     * create of the order finds the claim and follows it. Returns both answers and both held calls.
     */
    async function holdTwoCreates(merchant: string, order: string) {
      stack.legacy.reply = () => 'hold';
      const base = stack.legacy.received.length;
      const claimant = create(merchant, order);
      await stack.legacy.arrived(base + 1);
      const follower = create(merchant, order);
      await stack.legacy.arrived(base + 2);
      const [claimantCall, followerCall] = stack.legacy.received.slice(base);
      return { claimant, claimantCall, follower, followerCall };
    }

    test('a create refused with a 4xx gives its order back: the next create of that order follows the current rules', async () => {
      const merchant = `M-REF-${withRedis ? 'R' : 'E'}`;
      const order = orderId('REFUSED');
      stack.legacy.reply = () => ({ status: 400, body: { code: '40004', sub_code: 'INVALID_PARAMETER' } });
      const first = await create(merchant, order);
      assert.equal(first.status, 400);
      assert.equal(first.headers.get('x-cutover-backend'), 'legacy');
      await flip(merchant);
      stack.next.reply = (r) => created(r, 'pay_after_refusal');
      const second = await create(merchant, order);
      assert.equal(second.status, 201);
      assert.equal(second.headers.get('x-cutover-backend'), 'next');
      assert.equal(second.headers.get('x-cutover-reason'), 'merchant-flag');
      assert.equal(forOrder(stack.legacy, order), 1, 'legacy got the refused create once');
      assert.equal(forOrder(stack.next, order), 1, 'next got the second create once');
    });

    for (const [what, status] of [['a 5xx', 500], ['a 409', 409], ['a timeout', 0]] as const) {
      test(`a create answered with ${what} keeps its order pinned to that backend`, async () => {
        const merchant = `M-KEEP-${status}-${withRedis ? 'R' : 'E'}`;
        const order = orderId('KEPT');
        const held: Received[] = [];
        stack.legacy.reply = (r) => {
          if (status !== 0) return { status, body: { code: '20000' } };
          held.push(r);
          return 'hold';
        };
        const first = await create(merchant, order);
        assert.equal(first.status, status === 0 ? 504 : status);
        for (const r of held) r.answer(500);
        await flip(merchant);
        stack.legacy.reply = (r) => created(r, `pay_kept_${status}`);
        const second = await create(merchant, order);
        assert.equal(second.status, 201);
        assert.equal(second.headers.get('x-cutover-backend'), 'legacy');
        assert.equal(second.headers.get('x-cutover-reason'), 'pinned');
        assert.equal(forOrder(stack.legacy, order), 2);
        assert.equal(forOrder(stack.next, order), 0, 'next never saw the order');
      });
    }

    for (const first of ['success', 'refusal'] as const) {
      test(`a refusal racing a concurrent success of the same order leaves the order pinned (the ${first} answered first)`, async () => {
        const merchant = `M-RACE-${first}-${withRedis ? 'R' : 'E'}`;
        const order = orderId('RACE');
        const { claimant, claimantCall, follower, followerCall } = await holdTwoCreates(merchant, order);
        const answers = {
          success: async () => { followerCall.answer(201, { trade_no: `pay_race_${first}`, code: '10000' }); assert.equal((await follower).status, 201); },
          refusal: async () => { claimantCall.answer(400, { code: '40004' }); assert.equal((await claimant).status, 400); },
        };
        if (first === 'success') { await answers.success(); await answers.refusal(); } else { await answers.refusal(); await answers.success(); }

        await flip(merchant);
        stack.legacy.reply = (r) => created(r, `pay_race_retry_${first}`);
        const third = await create(merchant, order);
        assert.equal(third.headers.get('x-cutover-backend'), 'legacy');
        assert.equal(third.headers.get('x-cutover-reason'), 'pinned');
        assert.equal(forOrder(stack.legacy, order), 3);
        assert.equal(forOrder(stack.next, order), 0, 'the order never reached next');
      });
    }

    test('a refusal while a joined create is still in flight keeps the order pinned: a third create follows it, not the new rules', async () => {
      const merchant = `M-JOIN-${withRedis ? 'R' : 'E'}`;
      const order = orderId('JOIN');
      const { claimant, claimantCall, follower: joiner, followerCall: joinerCall } = await holdTwoCreates(merchant, order);
      // The rules move the merchant to next, then the claimant is refused while the joiner is held.
      await flip(merchant);
      claimantCall.answer(400, { code: '40004' });
      assert.equal((await claimant).status, 400);
      stack.legacy.reply = (r) => created(r, 'pay_join_third');
      const third = await create(merchant, order);
      assert.equal(third.headers.get('x-cutover-backend'), 'legacy', 'the joiner may still make the payment on legacy');
      assert.equal(third.headers.get('x-cutover-reason'), 'pinned');
      joinerCall.answer(201, { trade_no: 'pay_join_second', code: '10000' });
      assert.equal((await joiner).status, 201);
      assert.equal(forOrder(stack.next, order), 0, 'the order never reached next');
    });

    test('a release the store cannot make keeps the claim (fail closed)', async () => {
      const merchant = `M-STOREFAIL-${withRedis ? 'R' : 'E'}`;
      const order = orderId('STOREFAIL');
      const store = stack.gw.store as { releasePins: unknown };
      const real = store.releasePins;
      store.releasePins = async () => { throw new Error('injected store failure'); };
      try {
        stack.legacy.reply = () => ({ status: 400, body: { code: '40004' } });
        assert.equal((await create(merchant, order)).status, 400);
      } finally {
        store.releasePins = real;
      }
      await flip(merchant);
      stack.legacy.reply = (r) => created(r, 'pay_kept_on_store_failure');
      const second = await create(merchant, order);
      assert.equal(second.headers.get('x-cutover-backend'), 'legacy');
      assert.equal(second.headers.get('x-cutover-reason'), 'pinned');
      assert.equal(forOrder(stack.next, order), 0);
    });

    test('a refused v2 create frees its idempotency key; a create answered 5xx keeps it', async () => {
      const merchant = `M-KEY-${withRedis ? 'R' : 'E'}`;
      const send = (key: string, order: string, value: number) => merchantPost(stack.gw, '/api/v2/payments', merchant, v2Create(order, value), { 'idempotency-key': key });
      const freed = `key-freed-${orderId()}`;
      stack.next.reply = () => ({ status: 400, body: { error: 'invalid_request' } });
      assert.equal((await send(freed, orderId('K1'), 100)).status, 400);
      stack.next.reply = (r) => created(r, 'pay_key_second');
      const again = await send(freed, orderId('K2'), 200);
      assert.equal(again.status, 201, 'the key was free again for another request');

      const kept = `key-kept-${orderId()}`;
      stack.next.reply = () => ({ status: 502, body: { error: 'upstream' } });
      assert.equal((await send(kept, orderId('K3'), 100)).status, 502);
      const before = stack.next.received.length;
      const other = await send(kept, orderId('K4'), 200);
      assert.equal(other.status, 422);
      assert.equal((await other.json() as { error: string }).error, 'idempotency_key_mismatch');
      assert.equal(stack.next.received.length, before, 'the mismatching create was not forwarded');
    });
  });
}

stores('embedded store', false);
stores('redis store', true);

describe('two instances on one Redis', () => {
  const stack = useScriptedStack({ redis: true, instances: 2 });

  test('an instance that looked the claim up while its create was in flight follows the order to its new backend after the release', async () => {
    const [creating, querying] = stack.gws;
    const merchant = 'M-TWO-INSTANCES';
    const order = orderId('TWO');
    const query = () => fetch(`${querying.url}/api/v1/payments?out_trade_no=${order}`, { headers: { 'x-merchant-id': merchant } });
    stack.legacy.reply = (r) => (r.method === 'POST' ? 'hold' : { status: 404, body: { code: '40004' } });
    const refusedCreate = merchantPost(creating, '/api/v1/payments', merchant, v1Create(order));
    await stack.legacy.arrived(1);
    // The query meets the claim: it goes where the order is pinned for now.
    const during = await query();
    assert.equal(during.headers.get('x-cutover-backend'), 'legacy');
    stack.legacy.received[0].answer(400, { code: '40004' });
    assert.equal((await refusedCreate).status, 400);

    // The order is created again through the other instance, on the merchant's new backend.
    assert.equal((await adminCall(creating, 'PUT', `/admin/merchants/${merchant}`, { backend: 'next' })).status, 200);
    stack.next.reply = (r) => (r.method === 'POST' ? created(r, 'pay_two_instances') : { status: 200, body: { trade_no: 'pay_two_instances' } });
    const create = await merchantPost(creating, '/api/v1/payments', merchant, v1Create(order));
    assert.equal(create.headers.get('x-cutover-backend'), 'next');
    const after = await query();
    assert.equal(after.status, 200);
    assert.equal(after.headers.get('x-cutover-backend'), 'next');
    assert.equal(after.headers.get('x-cutover-reason'), 'pinned');
    assert.equal(stack.legacy.received.filter((r) => r.method === 'POST').length, 1, 'legacy saw the refused create only');
  });
});
