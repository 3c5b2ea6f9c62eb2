import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { useStack } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

const stack = useStack(() => ({ redis: true }));

/** A health probe, as a load balancer sends it (no token), on the admin app in-process. */
const probe = (path: string) => request(stack.gw.gw.adminApp).get(path);

test('readyz is 200 while Redis answers, 503 naming the store while it is down, and 200 again when it is back', async () => {
  const ready = await probe('/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body, { status: 'ready', store: 'ok', rules: 'loaded', draining: false });

  await stack.redis.stop();
  const down = await probe('/readyz');
  assert.equal(down.status, 503);
  assert.equal(down.body.status, 'not_ready');
  assert.equal(down.body.store, 'unreachable');
  assert.equal(down.body.rules, 'loaded', 'the last ruleset is still held in memory');
  const alive = await probe('/healthz');
  assert.equal(alive.status, 200, 'liveness does not depend on the store: restarting would not help');

  await stack.redis.start();
  const back = await waitFor(() => probe('/readyz'), (res) => res.status === 200, { what: 'readyz 200 again', timeoutMs: 10_000, everyMs: 100 });
  assert.equal(back.body.store, 'ok');
});

test('a draining instance answers readyz 503 so that load balancers stop sending to it', async () => {
  stack.gw.gw.drain();
  const res = await probe('/readyz');
  assert.equal(res.status, 503);
  assert.equal(res.body.draining, true);
  assert.equal((await probe('/healthz')).status, 200);
});
