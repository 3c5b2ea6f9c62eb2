import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeV1Create, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';
import { useGateways } from './helpers/gateways.ts';
import { deferred } from './helpers/wait.ts';
import type { Store } from '../gateway/store/types.ts';

let a: RunningGateway;
let b: RunningGateway;
/** Full flag listings each instance's store has made since the last reset. */
const listings = { a: 0, b: 0 };
/** Failure injection, as from a slow store: while set, B's listings are read at once but handed back only when it opens. */
let holdListingOnB: { listed: () => void; opened: Promise<void> } | null = null;

type ListFlags = Store['listFlags'];
function countListings(gw: RunningGateway, on: 'a' | 'b'): void {
  const store = gw.store as { listFlags: ListFlags };
  const real = store.listFlags.bind(store);
  store.listFlags = async () => {
    listings[on]++;
    const all = await real();
    const hold = on === 'b' ? holdListingOnB : null;
    if (hold) { hold.listed(); await hold.opened; }
    return all;
  };
}

// No periodic re-read within the test: only the change notifications carry flags.
useGateways(() => ({
  overrides: { redis: { refreshSeconds: 3600 } },
  onStarted: (gws) => { [a, b] = gws; countListings(a, 'a'); countListings(b, 'b'); },
}));

const routeV1 = async (gw: RunningGateway, merchant: string) => {
  const { backend, reason } = await routeV1Create(gw, merchant);
  return { backend, reason };
};

async function until(gw: RunningGateway, merchant: string, expected: { backend: string; reason: string }): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const r = await routeV1(gw, merchant);
    if (r.backend === expected.backend && r.reason === expected.reason) return;
    assert.ok(Date.now() < deadline, `${merchant} still routed ${JSON.stringify(r)}, expected ${JSON.stringify(expected)}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

test('flags set and removed through A route on B, and no instance lists every flag to learn of one', async () => {
  listings.a = 0; listings.b = 0;
  for (const m of ['M-ONE-1', 'M-ONE-2', 'M-ONE-3']) {
    assert.equal((await admin(a, 'PUT', `/admin/merchants/${m}`, { backend: 'next' })).status, 200);
  }
  assert.deepEqual(await routeV1(a, 'M-ONE-2'), { backend: 'next', reason: 'merchant-flag' }, 'live on A when the PUT answers');
  for (const m of ['M-ONE-1', 'M-ONE-2', 'M-ONE-3']) await until(b, m, { backend: 'next', reason: 'merchant-flag' });

  assert.equal((await admin(a, 'DELETE', '/admin/merchants/M-ONE-2')).status, 200);
  assert.deepEqual(await routeV1(a, 'M-ONE-2'), { backend: 'legacy', reason: 'default' });
  await until(b, 'M-ONE-2', { backend: 'legacy', reason: 'default' });
  assert.deepEqual(await routeV1(b, 'M-ONE-1'), { backend: 'next', reason: 'merchant-flag' }, 'the other flags stay');
  assert.deepEqual(listings, { a: 0, b: 0 }, 'a flag change is applied by reading that one flag');
});

test('a flag changed while a full re-read is in flight is not lost when the re-read lands', async () => {
  // B's re-read lists the flags before the change and hands the listing back after the change has arrived.
  const listed = deferred();
  const opened = deferred();
  holdListingOnB = { listed: listed.resolve, opened: opened.promise };
  const changeAtB = deferred();
  const off = b.store.subscribe((e) => { if (e.kind === 'flags' && e.merchant === 'M-DURING') changeAtB.resolve(); });
  try {
    const reread = b.gw.live.reload();
    await listed.promise;
    assert.equal((await admin(a, 'PUT', '/admin/merchants/M-DURING', { backend: 'next' })).status, 200);
    await changeAtB.promise;
    opened.resolve();
    await reread;
    await until(b, 'M-DURING', { backend: 'next', reason: 'merchant-flag' });
    await new Promise((r) => setTimeout(r, 400)); // anything still in flight on B has landed
    assert.deepEqual(await routeV1(b, 'M-DURING'), { backend: 'next', reason: 'merchant-flag' });
    assert.ok(listings.b >= 1, 'the full re-read ran');
  } finally { holdListingOnB = null; opened.resolve(); off(); }
});
