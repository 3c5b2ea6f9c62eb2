import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { noPinCache, useGateways } from './helpers/gateways.ts';
import { orderId, v1Create, v2Create } from './helpers/stack.ts';

let probe: Redis;
// Each test starts its instances; the commands are read from MONITOR, by the pin windows they touch.
const shared = useGateways(() => ({ instances: 0, overrides: { redis: { refreshSeconds: 3600 } }, onStarted: () => { probe = new Redis(shared.redis.url); } }));
after(() => probe?.disconnect());

/** A command Redis ran, as MONITOR shows it: its arguments, and whether a script ran it. */
interface Seen { args: string[]; byScript: boolean }

/**
 * The commands Redis runs while `work` runs that touch a pin window (`<prefix>pin:{bucket}:window`),
 * from MONITOR: the instance's background loops (counters, leases, registrations) never do.
 */
async function pinCommandsDuring(work: () => Promise<void>): Promise<Seen[]> {
  const seen: Seen[] = [];
  const monitor = await probe.monitor();
  const marker = `end-${orderId('m')}`;
  let ended!: () => void;
  const end = new Promise<void>((resolve) => { ended = resolve; });
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) ended();
    else seen.push({ args, byScript: source === 'lua' });
  });
  try {
    await work();
    await probe.echo(marker);
    await end;
  } finally {
    monitor.disconnect();
  }
  return seen.filter((c) => c.args.some((a) => /pin:\{\d+\}:\d+/.test(a)));
}

test('a follow-up by id on an instance without a pin cache costs one Redis command (one script call over every live window); a query by order two', async () => {
  const creator = await shared.start();
  const made: { v: 'v1' | 'v2'; id: string; order: string }[] = [];
  for (let i = 0; i < 10; i++) {
    const order = orderId('rt');
    const v2 = i % 2 === 1;
    const r = await fetch(`${creator.url}/api/${v2 ? 'v2' : 'v1'}/payments`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-rt', ...(v2 ? { 'idempotency-key': orderId('k') } : {}) },
      body: JSON.stringify(v2 ? v2Create(order) : v1Create(order)),
    });
    const body = await r.json();
    made.push({ v: v2 ? 'v2' : 'v1', id: v2 ? body.id : body.trade_no, order });
  }
  await shared.close(creator);
  const follower = await shared.start(noPinCache);
  try {
    let n = 0;
    const pinCommands = await pinCommandsDuring(async () => {
      for (const p of made) {
        for (const path of [`/api/${p.v}/payments/${p.id}`, p.v === 'v1' ? `/api/v1/payments?out_trade_no=${p.order}` : `/api/v2/payments?merchantOrderId=${p.order}`]) {
          const r = await fetch(`${follower.url}${path}`, { headers: { 'x-merchant-id': 'M-rt' } });
          assert.equal(r.status, 200);
          assert.equal(r.headers.get('x-cutover-reason'), 'pinned');
          n++;
        }
      }
    });
    // One script call per follow-up by id (EVAL the first time on a connection, EVALSHA after);
    // a query by order number makes two: the order's pin, then the (set-if-absent) pin of the
    // transaction id in its answer, so that a create whose answer was lost gets its id pinned.
    const byId = n / 2;
    const byOrder = n / 2;
    const sent = pinCommands.filter((c) => !c.byScript).map((c) => c.args[0].toLowerCase());
    assert.equal(sent.length, byId + 2 * byOrder, `commands sent: ${sent.join(' ')}`);
    assert.deepEqual(sent.filter((c) => c !== 'evalsha' && c !== 'eval'), [], 'every one a script call');
    // ...and inside each script two HGETs (the window ahead, read for clock skew, then the
    // current one, which holds the pin), and nothing else.
    const ran = pinCommands.filter((c) => c.byScript).map((c) => c.args[0].toLowerCase());
    assert.equal(ran.length, 2 * (byId + 2 * byOrder), `commands run by scripts: ${ran.join(' ')}`);
    assert.deepEqual(ran.filter((c) => c !== 'hget'), []);
  } finally {
    await shared.close(follower);
  }
});
