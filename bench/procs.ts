/**
 * Child processes for the benchmark and the chaos run: reference backends,
 * gateways, redis-server, the bare proxy, HAProxy and nginx. Every process
 * listens on 127.0.0.1 only and is stopped by its own pid; a process-exit
 * hook stops whatever is still running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const NODE = process.execPath;
export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

const running = new Set<Child>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => { for (const c of running) c.killNow(); });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { for (const c of running) c.killNow(); process.exit(130); });
  }
}

/** A child process that the harness owns, with its CPU time from /proc. */
export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  #exited: Promise<void>;

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    this.#exited = new Promise((resolve) => proc.once('exit', () => { running.delete(this); resolve(); }));
    running.add(this);
    hookExit();
  }

  get pid(): number { return this.proc.pid!; }
  get alive(): boolean { return this.proc.exitCode === null && this.proc.signalCode === null; }

  /** User + system CPU time in milliseconds (Linux /proc; 0 elsewhere). */
  cpuMs(): number { return cpuMsOf(this.pid); }

  /** SIGTERM, then SIGKILL when it has not exited after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.alive) return this.#exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.killNow(), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL now (a crash, for the chaos run), and wait for the exit. */
  async kill(): Promise<void> {
    this.killNow();
    await this.#exited;
  }

  killNow(): void {
    if (this.alive) this.proc.kill('SIGKILL');
  }
}

let clockTicks = 0;
/** CPU time of a process in ms, from /proc/<pid>/stat (utime + stime, fields 14 and 15). */
export function cpuMsOf(pid: number): number {
  try {
    if (clockTicks === 0) clockTicks = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return 0;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A scratch directory under .bench-tmp/ (git-ignored). */
export function scratchDir(name: string): string {
  const dir = join(ROOT, '.bench-tmp', `${name}-${Date.now().toString(36)}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Removes the older scratch directories of `name`, keeping `keep` (the last run's logs and profiles). */
export function pruneScratch(name: string, keep: string): void {
  const base = join(ROOT, '.bench-tmp');
  if (!existsSync(base)) return;
  for (const d of readdirSync(base)) {
    const path = join(base, d);
    if (d.startsWith(`${name}-`) && path !== keep) rmSync(path, { recursive: true, force: true });
  }
}

function start(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; logFile?: string } = {}): Child {
  const out = opts.logFile ? openSync(opts.logFile, 'a') : 'ignore';
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', out, out] });
  if (typeof out === 'number') closeSync(out);
  return new Child(name, proc);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `url` answers 2xx; throws (naming the log) when `child` exits or time runs out. */
export async function waitForHttp(url: string, child?: Child, timeoutMs = 20_000, logFile?: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child && !child.alive) break;
    try { if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return; } catch { /* not up yet */ }
    await sleep(50);
  }
  const tail = logFile ? `\n${readTail(logFile)}` : '';
  throw new Error(`${child?.name ?? url}: not ready at ${url}${tail}`);
}

function readTail(file: string): string {
  try { return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; }
}

async function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(300);
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
    s.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
  });
}

export interface BackendProc { kind: 'legacy' | 'next'; port: number; url: string; child: Child }

/** `node backends/main.ts <kind> --port N` on loopback. */
export async function startBackend(kind: 'legacy' | 'next', port: number, dir: string): Promise<BackendProc> {
  const logFile = join(dir, `${kind}-${port}.log`);
  const child = start(kind, NODE, ['backends/main.ts', kind, '--port', String(port), '--host', '127.0.0.1'], { logFile });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/_health`, child, 20_000, logFile);
  return { kind, port, url, child };
}

export interface RedisProc { port: number; url: string; child: Child; dir: string }

/**
 * redis-server on loopback. `persistent`: AOF with fsync on every write, so
 * that pins survive a restart (what production should run).
 */
export async function startRedis(port: number, dir: string, opts: { persistent?: boolean } = {}): Promise<RedisProc> {
  const persistence = opts.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''] : ['--appendonly', 'no', '--save', ''];
  const child = start(`redis:${port}`, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--protected-mode', 'no', ...persistence],
    { logFile: join(dir, `redis-${port}.log`) });
  const until = Date.now() + 10_000;
  while (Date.now() < until && child.alive) {
    if (await redisPing(port)) return { port, url: `redis://127.0.0.1:${port}`, child, dir };
    await sleep(30);
  }
  throw new Error(`redis-server did not start on port ${port} (is redis-server installed?)`);
}

export interface GatewayOptions {
  name: string;
  backends: { legacy: string; next: string };
  /** Absent: the gateway runs on its embedded store. */
  redisUrl?: string;
  keyPrefix?: string;
  rules: unknown;
  logLevel?: string;
  cacheSize?: number;
  nodeArgs?: string[];
  /** More environment for the process (the probe's port). */
  env?: Record<string, string>;
  /** Directory holding gateway/main.ts (another checkout, to measure a change); the repository by default. */
  root?: string;
}

export interface GatewayProc { name: string; url: string; adminUrl: string; child: Child; logFile: string; configFile: string }

/** `node gateway/main.ts` with a generated YAML config (CUTOVER_CONFIG), stdout (the JSON logs) to a file. */
export async function startGateway(dir: string, o: GatewayOptions): Promise<GatewayProc> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const rulesFile = join(dir, `${o.name}-rules.json`);
  writeFileSync(rulesFile, JSON.stringify(o.rules));
  const config = {
    listen: { port, adminPort, host: '127.0.0.1' },
    ...(o.redisUrl ? { redis: { url: o.redisUrl, ...(o.keyPrefix ? { keyPrefix: o.keyPrefix } : {}) } } : {}),
    backends: {
      legacy: { url: o.backends.legacy, apiVersions: ['v1'], timeoutMs: 5000 },
      next: { url: o.backends.next, apiVersions: ['v1', 'v2'], timeoutMs: 5000 },
    },
    pins: { ttlDays: 400, ...(o.cacheSize !== undefined ? { cacheSize: o.cacheSize } : {}), unpinned: [{ idPattern: '^pay_', backend: 'next' }, { backend: 'legacy' }] },
    rules: rulesFile,
    admin: { tokens: [{ name: 'bench', token: ADMIN_TOKEN }] },
    logLevel: o.logLevel ?? 'info',
  };
  const configFile = join(dir, `${o.name}.yaml`);
  writeFileSync(configFile, toYaml(config));
  const logFile = join(dir, `${o.name}.log`);
  const root = o.root ?? ROOT;
  const child = start(o.name, NODE, [...(o.nodeArgs ?? []), join(root, 'gateway/main.ts')], {
    logFile, env: { CUTOVER_CONFIG: configFile, REDIS_URL: '', LOG_LEVEL: '', PORT: '', ADMIN_PORT: '', CUTOVER_ADMIN_TOKEN: '', ...o.env },
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitForHttp(`${adminUrl}/readyz`, child, 30_000, logFile);
  return { name: o.name, url: `http://127.0.0.1:${port}`, adminUrl, child, logFile, configFile };
}

/** A proxy without logic: bench/bare-proxy.ts (express + http-proxy-middleware) or bench/node-proxy.ts (Node's http alone). */
export async function startBareProxy(dir: string, backends: { legacy: string; next: string }, script: 'bare-proxy' | 'node-proxy' = 'bare-proxy',
  extra: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Promise<{ url: string; child: Child }> {
  const port = await freePort();
  const logFile = join(dir, `${script}.log`);
  const child = start(script, NODE, [...(extra.nodeArgs ?? []), `bench/${script}.ts`, '--port', String(port), '--v1', backends.legacy, '--v2', backends.next], { logFile, env: extra.env });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, child, 20_000, logFile);
  return { url, child };
}

/** Node arguments and environment that preload bench/probe.ts on a fresh port; `url` reads it. */
export async function probeSetup(opts: { exposeGc?: boolean } = {}): Promise<{ nodeArgs: string[]; env: Record<string, string>; url: string }> {
  const port = await freePort();
  return {
    nodeArgs: [...(opts.exposeGc ? ['--expose-gc'] : []), '--import', join(ROOT, 'bench', 'probe.ts')],
    env: { BENCH_PROBE_PORT: String(port) },
    url: `http://127.0.0.1:${port}/`,
  };
}

/** Runs an external program from a config file; ready when `readyUrl` answers. */
export async function startExternal(name: string, cmd: string, args: string[], readyUrl: string, dir: string): Promise<Child> {
  const logFile = join(dir, `${name}.log`);
  const child = start(name, cmd, args, { logFile });
  await waitForHttp(readyUrl, child, 15_000, logFile);
  return child;
}

/** The path of a program, or undefined. */
export function which(program: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${program}`]);
  const path = r.stdout.toString().trim();
  return r.status === 0 && path ? path : undefined;
}

/**
 * Makes sure the Debian packages are installed: apt-get when running as root,
 * otherwise nothing. Returns the programs still missing.
 */
export function ensurePrograms(programs: { program: string; pkg: string }[], log: (line: string) => void): string[] {
  const missing = programs.filter((p) => !which(p.program));
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0 || !which('apt-get')) return missing.map((m) => m.program);
  log(`installing ${missing.map((m) => m.pkg).join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  spawnSync('apt-get', ['install', '-y', '-qq', ...missing.map((m) => m.pkg)], { stdio: 'ignore', env });
  // The packaged services are not wanted: the harness runs its own copies on loopback.
  for (const m of missing) spawnSync('sh', ['-c', `service ${m.pkg} stop 2>/dev/null || true`], { stdio: 'ignore' });
  return missing.filter((m) => !which(m.program)).map((m) => m.program);
}
