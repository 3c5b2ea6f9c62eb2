import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { merchantPost, orderId, v2Create } from './helpers/stack.ts';
import { useScriptedStack } from './helpers/scripted-backend.ts';

// Issue 13 / SPEC 10: the gateway keeps a fingerprint of the request (method, path, merchant,
// forwarded body) with an Idempotency-Key's pin. The same key back with another request is
// 422 idempotency_key_mismatch and never forwarded (Stripe's contract); the same request again
// is forwarded to the same backend, whose own idempotency answers it.

function stores(label: string, withRedis: boolean): void {
  describe(label, () => {
    const stack = useScriptedStack({ redis: withRedis });

    const send = (key: string, body: unknown, path = '/api/v2/payments', merchant = 'M-IDEM') =>
      merchantPost(stack.gw, path, merchant, body, { 'idempotency-key': key });

    async function mismatch(res: Response): Promise<void> {
      assert.equal(res.status, 422);
      const body = await res.json() as { error: string };
      assert.equal(body.error, 'idempotency_key_mismatch');
    }

    test('the same key with another amount, or another order, is 422 and nothing is forwarded', async () => {
      const key = `idem-${orderId()}`;
      const order = orderId('IDEM');
      assert.equal((await send(key, v2Create(order, 1000))).status, 201);
      const forwarded = stack.next.received.length;
      await mismatch(await send(key, v2Create(order, 1001)));
      await mismatch(await send(key, v2Create(orderId('OTHER'), 1000)));
      assert.equal(stack.next.received.length, forwarded, 'the backend received nothing more');
      assert.equal(stack.legacy.received.length, 0);
    });

    test('the same key with a query string is refused (a create takes none) and not forwarded', async () => {
      const key = `idem-${orderId()}`;
      const order = orderId('IDEM');
      assert.equal((await send(key, v2Create(order))).status, 201);
      const forwarded = stack.next.received.length;
      const again = await send(key, v2Create(order), '/api/v2/payments?capture=false');
      assert.equal(again.status, 400);
      assert.equal(stack.next.received.length, forwarded);
    });

    test('the same request again is forwarded once more, to the same backend, with the same body', async () => {
      const key = `idem-${orderId()}`;
      const body = v2Create(orderId('IDEM'));
      const first = await send(key, body);
      assert.equal(first.status, 201);
      const forwarded = stack.next.received.length;
      const retry = await send(key, body);
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get('x-cutover-backend'), 'next');
      assert.equal(stack.next.received.length, forwarded + 1, 'exactly one forward');
      assert.deepEqual(JSON.parse(stack.next.received.at(-1)!.body), body);
    });

    test('keys are per merchant: another merchant\'s key of the same name is a key of its own', async () => {
      const key = `idem-${orderId()}`;
      assert.equal((await send(key, v2Create(orderId('IDEM')), '/api/v2/payments', 'M-IDEM-A')).status, 201);
      const forwarded = stack.next.received.length;
      assert.equal((await send(key, v2Create(orderId('IDEM')), '/api/v2/payments', 'M-IDEM-B')).status, 201);
      assert.equal(stack.next.received.length, forwarded + 1);
    });
  });
}

stores('embedded store', false);
stores('redis store', true);
