/**
 * A real redis-server for tests, on a free loopback port, with no
 * persistence. `stop()` and `start()` simulate an outage on the same port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/procs.ts';
import { waitFor as waitForValue } from './wait.ts';

/** A port free on 127.0.0.1 at the time of asking (the benchmark's child processes use the same). */
export { freePort };

export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (an outage); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Whether a redis-server (or sentinel) answers PING on `port`, asked with the real redis-cli. */
async function ping(port: number): Promise<boolean> {
  return redisCli(port, 'ping').trim() === 'PONG';
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cutover-redis-'));
  let proc: ChildProcess | null = null;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], { stdio: 'ignore' });
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 30));
    }
    throw new Error(`redis-server did not start on port ${port} (is redis-server installed?)`);
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`, port, stop, start,
    async close() { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  await waitForValue(check, (ok) => ok, { what, timeoutMs, everyMs: 100 });
}

export function redisCli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

export interface TestRedisGroup {
  /** What a gateway config's `redis` section takes to reach it. */
  connection: { cluster: string[] } | { sentinel: { name: string; sentinels: string[] } };
  ports: number[];
  close(): Promise<void>;
}

export interface TestRedisCluster extends TestRedisGroup {
  connection: { cluster: string[] };
  /** Kills one master and starts it again at once, empty (no persistence), with its slots. */
  restartEmpty(port: number): Promise<void>;
}

/** Starts redis-server processes in `dir`; returns a stopper. */
function spawnAll(runs: { port: number; args: string[] }[]): () => Promise<void> {
  const procs = runs.map(({ args }) => spawn('redis-server', args, { stdio: 'ignore' }));
  return async () => {
    await Promise.all(procs.map((p) => {
      if (p.exitCode !== null || p.signalCode !== null) return undefined;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      return exited;
    }));
  };
}

/**
 * Starts a group of servers, again on fresh ports when a try fails: a port
 * found free may be taken by another test file before the server binds it.
 */
async function withRetries<T>(start: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try { return await start(); } catch (err) { if (i >= tries) throw err; }
  }
}

/** A real three-master Redis Cluster on loopback (no replicas, no persistence). */
export function startRedisCluster(): Promise<TestRedisCluster> {
  return withRetries(startRedisClusterOnce);
}

async function startRedisClusterOnce(): Promise<TestRedisCluster> {
  const ports = [await freePort(), await freePort(), await freePort()];
  // Each node's cluster bus on a free port of its own (by default port + 10000, which may be taken or out of range).
  const busPorts = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'cutover-cluster-'));
  const args = (i: number) => ['--port', String(ports[i]), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no',
    '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${ports[i]}.conf`, '--cluster-node-timeout', '2000', '--cluster-port', String(busPorts[i])];
  const stops = ports.map((port, i) => spawnAll([{ port, args: args(i) }]));
  const stop = async () => { await Promise.all(stops.map((s) => s())); };
  try {
    for (const port of ports) await waitFor(`redis-server ${port}`, () => ping(port));
    const out = redisCli(ports[0], '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes');
    if (!out.includes('All 16384 slots covered')) throw new Error(`redis-cli --cluster create failed:\n${out}`);
    for (const port of ports) await waitFor(`cluster state on ${port}`, async () => redisCli(port, 'cluster', 'info').includes('cluster_state:ok'));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    connection: { cluster: ports.map((p) => `redis://127.0.0.1:${p}`) }, ports,
    async restartEmpty(port) {
      const i = ports.indexOf(port);
      await stops[i]();
      stops[i] = spawnAll([{ port, args: args(i) }]);
      await waitFor(`redis-server ${port} again`, () => ping(port));
      await waitFor(`cluster state on ${port}`, async () => redisCli(port, 'cluster', 'info').includes('cluster_state:ok'));
    },
    async close() { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

export interface TestSentinelGroup extends TestRedisGroup {
  connection: { sentinel: { name: string; sentinels: string[] } };
  masterPort: number;
  replicaPort: number;
  /** Kills the master (a crash); the Sentinel then promotes the replica. */
  killMaster(): Promise<void>;
  /** The port the Sentinel names as master now. */
  currentMasterPort(): number | undefined;
  /** Freezes the replica (SIGSTOP) until `resumeReplica()`: it stops acknowledging writes. */
  pauseReplica(): void;
  resumeReplica(): void;
}

/**
 * A real master, one replica and one Sentinel (quorum 1) on loopback, no
 * persistence; the master is judged down after 1 s, so a failover takes a
 * few seconds.
 */
export function startRedisSentinel(name = 'cutover'): Promise<TestSentinelGroup> {
  return withRetries(() => startRedisSentinelOnce(name));
}

async function startRedisSentinelOnce(name: string): Promise<TestSentinelGroup> {
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'cutover-sentinel-'));
  const base = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'];
  const sentinelConf = join(dir, 'sentinel.conf');
  writeFileSync(sentinelConf, [
    `port ${sentinelPort}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${name} 1000`,
    `sentinel failover-timeout ${name} 5000`,
    '',
  ].join('\n'));
  const stopMaster = spawnAll([{ port: masterPort, args: base(masterPort) }]);
  const replica = spawn('redis-server', [...base(replicaPort), '--replicaof', '127.0.0.1', String(masterPort)], { stdio: 'ignore' });
  const stopReplica = async () => {
    if (replica.exitCode !== null || replica.signalCode !== null) return;
    const exited = new Promise((r) => replica.once('exit', r));
    replica.kill('SIGKILL');
    await exited;
  };
  const stopRest = spawnAll([
    { port: sentinelPort, args: [sentinelConf, '--sentinel'] },
  ]);
  const stop = async () => { await Promise.all([stopMaster(), stopReplica(), stopRest()]); };
  const currentMasterPort = () => {
    const out = redisCli(sentinelPort, 'sentinel', 'get-master-addr-by-name', name).trim().split('\n');
    return out.length >= 2 && /^\d+$/.test(out[1]) ? Number(out[1]) : undefined;
  };
  try {
    for (const port of [masterPort, replicaPort, sentinelPort]) await waitFor(`redis ${port}`, () => ping(port));
    await waitFor('replica in sync', async () => /master_link_status:up/.test(redisCli(replicaPort, 'info', 'replication')));
    await waitFor('sentinel knows the replica', async () => currentMasterPort() === masterPort
      && /num-slaves\n1\b/.test(redisCli(sentinelPort, 'sentinel', 'master', name)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    connection: { sentinel: { name, sentinels: [`redis://127.0.0.1:${sentinelPort}`] } },
    ports: [masterPort, replicaPort, sentinelPort], masterPort, replicaPort, currentMasterPort,
    killMaster: stopMaster,
    pauseReplica: () => { replica.kill('SIGSTOP'); },
    resumeReplica: () => { replica.kill('SIGCONT'); },
    async close() { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}
