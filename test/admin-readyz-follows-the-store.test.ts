import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './helpers/stack.ts';

const stack = useStack(() => ({ redis: true }));

const probe = async (path: string) => {
  const res = await fetch(`${stack.gw.adminUrl}${path}`);
  return { status: res.status, body: await res.json() };
};

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
  const until = Date.now() + 10_000;
  let back = await probe('/readyz');
  while (back.status !== 200 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    back = await probe('/readyz');
  }
  assert.equal(back.status, 200);
  assert.equal(back.body.store, 'ok');
});

test('a draining instance answers readyz 503 so that load balancers stop sending to it', async () => {
  stack.gw.gw.drain();
  const res = await probe('/readyz');
  assert.equal(res.status, 503);
  assert.equal(res.body.draining, true);
  assert.equal((await probe('/healthz')).status, 200);
});
