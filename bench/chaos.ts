/**
 * `npm run chaos`: steady merchant traffic through two gateway instances on
 * one Redis while operations flip a rule and a merchant flag every second,
 * a canary is stepped, Redis is killed and restarted (AOF with fsync on every
 * write, so pins survive), and a backend is killed and restarted. At the end
 * every transaction is read back through the gateways and checked against
 * the backend that created it. Exits 1 on any misroute.
 *
 *   node bench/chaos.ts [--seconds 120] [--rate 150] [--workers 16]
 *
 * Instance A keeps the default pin cache; instance B runs with
 * pins.cacheSize 0, so every follow-up it serves reads its pin from Redis.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { chaosRules, Operator } from './chaos-ops.ts';
import { newLedger, runTraffic, verifyAll, type TrafficEnv } from './chaos-traffic.ts';
import { freePort, pruneScratch, scratchDir, startBackend, startGateway, startRedis, type BackendProc, type RedisProc } from './procs.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '120' }, rate: { type: 'string', default: '150' }, workers: { type: 'string', default: '16' } } });
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const WORKERS = Number(values.workers);
if (!(SECONDS >= 10) || !(RATE > 0) || !(WORKERS >= 1)) {
  console.error('usage: node bench/chaos.ts [--seconds N>=10] [--rate calls/s] [--workers N]');
  process.exit(2);
}

const say = (line: string) => console.log(`chaos: ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const dir = scratchDir('chaos');
  pruneScratch('chaos', dir);
  const redisPort = await freePort();
  let redis: RedisProc = await startRedis(redisPort, dir, { persistent: true });
  const ports = { legacy: await freePort(), next: await freePort() };
  const backends: Record<'legacy' | 'next', BackendProc> = {
    legacy: await startBackend('legacy', ports.legacy, dir), next: await startBackend('next', ports.next, dir),
  };
  const urls = { legacy: backends.legacy.url, next: backends.next.url };
  const common = { backends: urls, redisUrl: redis.url, keyPrefix: 'chaos:', rules: chaosRules('legacy'), logLevel: 'info' };
  const a = await startGateway(dir, { name: 'gateway-a', ...common });
  const b = await startGateway(dir, { name: 'gateway-b', ...common, cacheSize: 0 });
  const epochs: Record<string, number> = { legacy: 1, next: 1 };
  const env: TrafficEnv = { gateways: [a.url, b.url], epochs, ledger: newLedger(), merchants: 200 };
  const ops = new Operator([a.adminUrl, b.adminUrl]);
  const events: string[] = [];
  const t0 = performance.now();
  const at = () => `t=${((performance.now() - t0) / 1000).toFixed(1)}s`;
  const note = (e: string) => { events.push(`${at()} ${e}`); say(`${at()} ${e}`); };
  say(`${SECONDS} s, ${RATE} calls/s, gateways A ${a.url} (pin cache on) and B ${b.url} (pin cache off), redis ${redis.url} (appendonly, appendfsync always), logs in ${dir}`);

  let stopping = false;
  const traffic = runTraffic(env, { rate: RATE, workers: WORKERS, stop: () => stopping });
  const flipper = setInterval(() => void ops.everySecond(), 1000);
  const timeline: Promise<void>[] = [
    (async () => { await sleep(SECONDS * 100); note(await ops.startCanary(Math.max(2, Math.round(SECONDS / 12)))); })(),
    (async () => {
      await sleep(SECONDS * 300);
      await redis.child.kill();
      note('redis-server killed (SIGKILL)');
      await sleep(2000);
      redis = await startRedis(redisPort, dir, { persistent: true });
      note('redis-server restarted on the same port (AOF reloaded)');
    })(),
    (async () => {
      await sleep(SECONDS * 550);
      await backends.next.child.kill();
      note('backend next killed (SIGKILL): the payments it held in memory are gone');
      await sleep(2000);
      epochs.next += 1;
      backends.next = await startBackend('next', ports.next, dir);
      note('backend next restarted on the same port');
    })(),
  ];
  await sleep(SECONDS * 1000);
  stopping = true;
  clearInterval(flipper);
  await Promise.all([traffic, ...timeline]);
  note('traffic stopped; reading every transaction back');
  const canary = await ops.canaryStatus();
  const verdict = await verifyAll(env, { concurrency: 16, patienceMs: 20_000 });

  await Promise.all([a.child.stop(), b.child.stop()]);
  await Promise.all([backends.legacy.child.stop(), backends.next.child.stop(), redis.child.stop()]);

  const l = env.ledger;
  const fails = Object.entries(l.failures).sort((x, y) => y[1] - x[1]);
  const unexplained = verdict.lost.length + l.anomalies.length;
  console.log([
    '',
    'chaos summary',
    `  events: ${events.join(' | ')}`,
    `  calls: ${l.requests} (creates answered 2xx: ${l.createsOk}, creates refused or failed: ${l.createsFailed}, follow-ups: ${l.followUps})`,
    `  operations: rule flips ${ops.counts.ruleFlips} ok / ${ops.counts.ruleFlipsFailed} failed (${ops.counts.conflicts} If-Match conflicts retried), flag flips ${ops.counts.flagFlips} ok / ${ops.counts.flagFlipsFailed} failed`,
    `  canary: ${canary}`,
    `  5xx and transport failures by code: ${fails.length === 0 ? 'none' : ''}`,
    ...fails.map(([k, n]) => `    ${k}: ${n}`),
    `  misroutes (a follow-up answered by a backend other than the creator): ${l.misroutes.length}`,
    ...l.misroutes.slice(0, 10).map((m) => `    ${m.call} ${m.tx.id} created on ${m.tx.creator}, answered ${m.status} by ${m.answeredBy}`),
    `  404 from the creating backend with its memory intact: ${l.anomalies.length}`,
    ...l.anomalies.slice(0, 10).map((m) => `    ${m.call} ${m.tx.id} on ${m.tx.creator}`),
    `  transactions: ${verdict.checked} created, ${verdict.readBack} read back by id and by order number from their creator`,
    `  lost transactions: ${verdict.lost.length}${verdict.lost.length ? ` (e.g. ${verdict.lost.slice(0, 5).map((t) => `${t.version} ${t.id} on ${t.creator}`).join(', ')})` : ''}`,
    `  gone with the restarted backend's memory (expected: the reference backends keep payments in memory): ${verdict.lostWithBackendMemory} transactions, ${l.expectedLost404} follow-ups answered 404 for them`,
    `  verdict: ${l.misroutes.length === 0 && unexplained === 0 ? 'PASS' : 'FAIL'}`,
  ].join('\n'));
  return l.misroutes.length > 0 || unexplained > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(`chaos: failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
