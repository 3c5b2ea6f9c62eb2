import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { ChangeEvent } from '../gateway/store/types.ts';
import { admin } from './helpers/admin.ts';
import { merchantPost, orderId, useStack, v1Create } from './helpers/stack.ts';
import { deferred } from './helpers/wait.ts';

const stack = useStack(() => ({ redis: true, keyPrefix: 'hostile:' }));

test('messages on the change channel that are not well-formed events neither crash nor confuse the gateway', async () => {
  // A well-formed event published after the noise: once the gateway's subscriber has it,
  // it has been handed every message before it (Redis delivers a channel's messages in order).
  const marker = deferred();
  const off = stack.gw.store.subscribe((e: ChangeEvent) => { if (e.kind === 'flags' && e.merchant === 'M-MARKER') marker.resolve(); });
  const raw = new Redis(stack.redis.url);
  try {
    for (const message of ['null', '42', '"rules"', '[]', '{}', '{"kind":null}', 'not json', '{"kind":"flags","merchant":{"x":1}}']) {
      await raw.publish('hostile:events', message);
    }
    await raw.publish('hostile:events', JSON.stringify({ kind: 'flags', merchant: 'M-MARKER' }));
    await marker.promise;
  } finally { off(); raw.disconnect(); }
  const r = await merchantPost(stack.gw, '/api/v1/payments', 'M-H', v1Create(orderId()));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-cutover-backend'), 'legacy');
  // A real change still propagates after the noise.
  assert.equal((await admin(stack.gw, 'PUT', '/admin/merchants/M-H2', { backend: 'next' })).status, 200);
  const flagged = await merchantPost(stack.gw, '/api/v1/payments', 'M-H2', v1Create(orderId()));
  assert.equal(flagged.headers.get('x-cutover-backend'), 'next');
});
