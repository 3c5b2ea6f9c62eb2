/**
 * The benchmark's columns: what stands between the load generator and the
 * two reference backends. Each column starts its own backends (so that no
 * column inherits another's heap) and its proxy as child processes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Targets } from './load.ts';
import { haproxyConfig, nginxConfig } from './proxy-configs.ts';
import { type Child, freePort, probeSetup, startBackend, startBareProxy, startExternal, startGateway, which } from './procs.ts';

/** The rules the gateway runs in the benchmark: v2 to next, v1 split 50/50 by order number. */
export const BENCH_RULES = {
  rules: [
    { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' },
    { name: 'v1-split', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight: 50 }, { backend: 'legacy', weight: 50 }], stickyBy: 'order' },
  ],
  default: 'legacy',
};

export interface Running {
  targets: Targets;
  /** Processes whose CPU time is reported as the proxy's (empty for direct access). */
  proxy: Child[];
  backends: Child[];
  /** With `probe`: bench/probe.ts in the proxy process (event loop, GC, heap). */
  probeUrl?: string;
  /** The gateway's admin port (its /metrics). */
  adminUrl?: string;
  stop(): Promise<void>;
}

export interface ColumnSpec {
  id: string;
  label: string;
  what: string;
  /** Set when the column cannot run here (a missing program). */
  unavailable?: string;
  start(dir: string): Promise<Running>;
}

async function backendsPair(dir: string) {
  const legacy = await startBackend('legacy', await freePort(), dir);
  const next = await startBackend('next', await freePort(), dir);
  return { legacy, next, urls: { legacy: legacy.url, next: next.url }, children: [legacy.child, next.child] };
}

function running(targets: Targets, proxy: Child[], backends: Child[]): Running {
  return {
    targets, proxy, backends,
    async stop() { await Promise.all([...proxy, ...backends].map((c) => c.stop())); },
  };
}

/**
 * `probe`: the Node proxies (b, n, c, c0, cm) run with bench/probe.ts preloaded
 * (`exposeGc`: and with --expose-gc, for heap readings after a full GC).
 */
export function columnSpecs(opts: { redisUrl: string; gatewayRoot?: string; probe?: boolean; exposeGc?: boolean }): ColumnSpec[] {
  const probe = async () => (opts.probe ? probeSetup({ exposeGc: opts.exposeGc }) : undefined);
  const gateway = (id: string, cacheSize?: number, redis = true) => async (dir: string) => {
    const b = await backendsPair(dir);
    const p = await probe();
    const gw = await startGateway(dir, {
      name: `gateway-${id}`, backends: b.urls, redisUrl: redis ? opts.redisUrl : undefined, keyPrefix: `bench-${id}-${Date.now().toString(36)}:`,
      rules: BENCH_RULES, logLevel: 'info', cacheSize, root: opts.gatewayRoot, nodeArgs: p?.nodeArgs, env: p?.env,
    });
    return { ...running({ v1: gw.url, v2: gw.url }, [gw.child], b.children), probeUrl: p?.url, adminUrl: gw.adminUrl };
  };
  const bare = (script: 'bare-proxy' | 'node-proxy') => async (dir: string) => {
    const b = await backendsPair(dir);
    const p = await probe();
    const proxy = await startBareProxy(dir, b.urls, script, { nodeArgs: p?.nodeArgs, env: p?.env });
    return { ...running({ v1: proxy.url, v2: proxy.url }, [proxy.child], b.children), probeUrl: p?.url };
  };
  const haproxy = which('haproxy');
  const nginx = which('nginx');
  return [
    {
      id: 'b', label: '(b) bare express + http-proxy-middleware', what: 'no logic: v1 to legacy, v2 to next by path, keep-alive pools',
      start: bare('bare-proxy'),
    },
    {
      id: 'a', label: '(a) reference backends directly', what: 'v1 calls to legacy, v2 calls to next, no proxy',
      async start(dir) {
        const b = await backendsPair(dir);
        return running({ v1: b.legacy.url, v2: b.next.url }, [], b.children);
      },
    },
    {
      id: 'c', label: '(c) Cutover gateway, everything on',
      what: 'validation, rules (v1 split 50/50 by order), pins in Redis with the in-process pin cache, metrics, JSON logs at info to a file',
      start: gateway('c'),
    },
    {
      id: 'c0', label: '(c0) Cutover gateway, pin cache off',
      what: 'as (c) with pins.cacheSize 0: every follow-up reads its pin from Redis, as on an instance that did not see the create',
      start: gateway('c0', 0),
    },
    {
      id: 'cm', label: '(cm) Cutover gateway, embedded store',
      what: 'as (c) with the embedded in-process store instead of Redis (a single instance\'s set-up): the difference from (c) is what the pin round trips to Redis cost',
      start: gateway('cm', undefined, false),
    },
    {
      id: 'n', label: '(n) bare Node http proxy', what: 'no framework and no logic: Node\'s own HTTP server and client, bodies streamed, keep-alive pools (bench/node-proxy.ts); the floor for any Node proxy here',
      start: bare('node-proxy'),
    },
    {
      id: 'd', label: '(d) HAProxy', what: 'path routing, v1 weighted 50/50, stick table learning order number and transaction id, no redispatch',
      unavailable: haproxy ? undefined : 'haproxy is not installed (apt-get install haproxy)',
      async start(dir) {
        const b = await backendsPair(dir);
        const port = await freePort();
        const cfg = join(dir, 'haproxy.cfg');
        writeFileSync(cfg, haproxyConfig(port, b.urls));
        const child = await startExternal('haproxy', haproxy!, ['-db', '-f', cfg], `http://127.0.0.1:${port}/healthz`, dir);
        return running({ v1: `http://127.0.0.1:${port}`, v2: `http://127.0.0.1:${port}` }, [child], b.children);
      },
    },
    {
      id: 'e', label: '(e) nginx', what: 'bare reverse proxy, v1 to legacy, v2 to next, upstream keep-alive',
      unavailable: nginx ? undefined : 'nginx is not installed (apt-get install nginx)',
      async start(dir) {
        const b = await backendsPair(dir);
        const port = await freePort();
        const ndir = join(dir, `nginx-${port}`);
        mkdirSync(ndir, { recursive: true });
        const cfg = join(ndir, 'nginx.conf');
        writeFileSync(cfg, nginxConfig(port, b.urls, ndir));
        const child = await startExternal('nginx', nginx!, ['-p', ndir, '-e', join(ndir, 'nginx-error.log'), '-c', cfg], `http://127.0.0.1:${port}/healthz`, dir);
        return running({ v1: `http://127.0.0.1:${port}`, v2: `http://127.0.0.1:${port}` }, [child], b.children);
      },
    },
  ];
}
