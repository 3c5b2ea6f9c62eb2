import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { EventEmitter } from 'node:events';
import { startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './helpers/stack.ts';
import { waitFor } from './helpers/wait.ts';

// No proxy, agent, timer or listener per request: after 10,000 requests the process holds
// what it held after a warm-up, and the upstream pool stays within maxSockets.

const MAX_SOCKETS = 8;
const CONCURRENCY = 16;

let backends: Backends;
let gw: RunningGateway;
const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
before(async () => {
  backends = await startBackends();
  const raw = testConfig(backends.urls);
  const cfg = raw.backends as Record<string, Record<string, unknown>>;
  gw = await startGateway({ ...raw, backends: { ...cfg, legacy: { ...cfg.legacy, maxSockets: MAX_SOCKETS } } });
  process.on('warning', onWarning);
});
after(async () => { process.off('warning', onWarning); await gw.close(); await backends.close(); });

/** `total` requests with at most CONCURRENCY in flight, on a client pool that is closed afterwards. */
async function load(total: number): Promise<Map<number, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const { port } = new URL(gw.url);
  const statuses = new Map<number, number>();
  let sent = 0;
  const one = (i: number) => new Promise<void>((resolve, reject) => {
    // Mostly proxied calls; every 10th is refused before routing (an unknown version).
    const path = i % 10 === 0 ? '/api/v9/x' : '/api/v1/echo';
    http.get({ host: '127.0.0.1', port, path, agent, headers: { 'x-merchant-id': 'M-LOAD' } }, (res) => {
      statuses.set(res.statusCode!, (statuses.get(res.statusCode!) ?? 0) + 1);
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (sent < total) await one(sent++); }));
  agent.destroy();
  // The gateway has seen every client connection close before anything is counted.
  const open = () => new Promise<number>((resolve, reject) => gw.dataServer.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  await waitFor(open, (n) => n === 0, { what: 'client connections closed at the gateway', everyMs: 10 });
  return statuses;
}

function listenerTotal(emitter: EventEmitter): number {
  return emitter.eventNames().reduce((n, e) => n + emitter.listenerCount(e), 0);
}

function snapshot() {
  const resources = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) resources.set(r, (resources.get(r) ?? 0) + 1);
  return {
    resources,
    upstreamSockets: gw.gw.backends.get('legacy')!.proxy.connections,
    processListeners: listenerTotal(process),
    serverListeners: listenerTotal(gw.dataServer),
  };
}

test('10,000 requests leave handles, sockets and listeners where they were', async () => {
  const warm = await load(500);
  assert.equal(warm.get(200), 450);
  const before = snapshot();

  const statuses = await load(10_000);
  assert.equal(statuses.get(200), 9000);
  assert.equal(statuses.get(404), 1000);
  const afterLoad = snapshot();

  for (const [type, n] of afterLoad.resources) {
    const was = before.resources.get(type) ?? 0;
    assert.ok(n <= was + 2, `${type}: ${was} active before, ${n} after 10,000 requests`);
  }
  assert.ok(afterLoad.upstreamSockets <= MAX_SOCKETS, `${afterLoad.upstreamSockets} upstream sockets for maxSockets ${MAX_SOCKETS}`);
  assert.equal(afterLoad.processListeners, before.processListeners, 'process listeners');
  assert.equal(afterLoad.serverListeners, before.serverListeners, 'data server listeners');
  assert.deepEqual(warnings.filter((w) => /MaxListeners/.test(w)), []);
});
