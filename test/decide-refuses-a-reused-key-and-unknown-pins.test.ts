import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from '../gateway/config.ts';
import { claim } from '../gateway/data/claims.ts';
import { decide, type DecideEnv, type Decision, type Subject } from '../gateway/data/decide.ts';
import { GatewayError } from '../gateway/errors.ts';
import { identify } from '../gateway/data/identify.ts';
import { PinService, pinKey } from '../gateway/pins.ts';
import { compileRules } from '../gateway/rules.ts';
import { MemoryStore } from '../gateway/store/memory.ts';

// Two backends that both speak v2, so that one key can meet two backends.
const config = buildConfig({
  backends: {
    legacy: { url: 'http://127.0.0.1:1', apiVersions: ['v1'] },
    next: { url: 'http://127.0.0.1:2', apiVersions: ['v1', 'v2'] },
    other: { url: 'http://127.0.0.1:3', apiVersions: ['v2'] },
  },
  pins: { unpinned: [{ idPattern: '^pay_', backend: 'next' }, { backend: 'legacy' }] },
});

function envWith(defaultBackend: string, store = new MemoryStore({ pinTtlMs: 86_400_000 })): DecideEnv & { store: MemoryStore; pins: PinService } {
  const rules = compileRules({ rules: [{ name: 'v1-legacy', match: { apiVersion: 'v1' }, backend: 'legacy' }], default: defaultBackend }, 1, config.backends);
  return {
    store, state: { rules, flags: new Map() }, backends: config.backends,
    unpinned: config.pins.unpinned.map((u) => ({ pattern: u.idPattern ? new RegExp(u.idPattern) : undefined, backend: u.backend })),
    pins: new PinService(store, { cacheSize: 100, ttlMs: 86_400_000 }), isOpen: () => false,
  };
}

/** A create's decision as the data path makes it: decide, then the claim stage. */
async function decideAndClaim(env: DecideEnv & { pins: PinService }, s: Subject): Promise<Decision> {
  return (await claim(env.pins, env, s, await decide(env, s), undefined)).decision;
}

const v2Create = (order: string, key: string): Subject => ({
  t: identify('POST', '/api/v2/payments'), merchant: 'M', method: 'POST', orderId: order, idempotencyKey: key, header: () => undefined,
});

test('a v2 Idempotency-Key already pinned to another backend than the order is refused, not forwarded', async () => {
  const store = new MemoryStore({ pinTtlMs: 86_400_000 });
  const first = await decideAndClaim(envWith('next', store), v2Create('O-1', 'K-1'));
  assert.equal(first.backend, 'next');
  // The rules now send new v2 transactions elsewhere; the same key comes with a new order.
  await assert.rejects(decideAndClaim(envWith('other', store), v2Create('O-2', 'K-1')), (err: GatewayError) => {
    assert.equal(err.code, 'idempotency_key_reused');
    assert.equal(err.status, 409);
    return true;
  });
  // A true retry (same order, same key) still goes where the first one went.
  assert.equal((await decideAndClaim(envWith('other', store), v2Create('O-1', 'K-1'))).backend, 'next');
});

test('a v2 follow-up with no pin goes to the last unpinned entry that speaks v2, not to a version mismatch', async () => {
  const env = envWith('next');
  const query: Subject = { t: identify('GET', '/api/v2/payments?merchantOrderId=NOPE'), merchant: 'M', method: 'GET', orderId: 'NOPE', header: () => undefined };
  const d = await decide(env, query);
  assert.deepEqual([d.backend, d.reason], ['next', 'unpinned']);
});

test('a pin naming a backend no longer configured answers 503, never another backend', async () => {
  const env = envWith('next');
  await env.store.pinIfAbsent(pinKey.transaction('pay_gone'), 'retired', Date.now());
  const get: Subject = { t: identify('GET', '/api/v2/payments/pay_gone'), merchant: 'M', method: 'GET', header: () => undefined };
  await assert.rejects(decide(env, get), (err: GatewayError) => err.code === 'backend_unavailable');
});
