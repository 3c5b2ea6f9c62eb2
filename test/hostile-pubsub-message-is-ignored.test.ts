import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { adminCall, merchantPost, orderId, useStack, v1Create } from './helpers/stack.ts';

const stack = useStack(() => ({ redis: true, keyPrefix: 'hostile:' }));

test('messages on the change channel that are not well-formed events neither crash nor confuse the gateway', async () => {
  const raw = new Redis(stack.redis.url);
  try {
    for (const message of ['null', '42', '"rules"', '[]', '{}', '{"kind":null}', 'not json', '{"kind":"flags","merchant":{"x":1}}']) {
      await raw.publish('hostile:events', message);
    }
  } finally { raw.disconnect(); }
  await new Promise((r) => setTimeout(r, 200));
  const r = await merchantPost(stack.gw, '/api/v1/payments', 'M-H', v1Create(orderId()));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-cutover-backend'), 'legacy');
  // A real change still propagates after the noise.
  assert.equal((await adminCall(stack.gw, 'PUT', '/admin/merchants/M-H2', { backend: 'next' })).status, 200);
  const flagged = await merchantPost(stack.gw, '/api/v1/payments', 'M-H2', v1Create(orderId()));
  assert.equal(flagged.headers.get('x-cutover-backend'), 'next');
});
