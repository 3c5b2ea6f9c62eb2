/**
 * The Redis store's connections and topology: client set-up for one server,
 * a Cluster or Sentinel; the pin writers that wait for replicas; script
 * registration; the pin layout and backend codes, settled again whenever a
 * server (or a Cluster node) comes back; and the parsing of change events
 * from pub/sub. The store commands themselves are in redis.ts.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ChangeEvent } from './types.ts';
import { defaultLayout, MAX_BACKEND_CODES, PIN_SCRIPT, CLAIMS_SCRIPT, RELEASE_SCRIPT, type PinLayout } from './pin-layout.ts';
import { address, type Address } from '../redis-address.ts';
import { PUT_RULES, GET_RULES, BACKEND_CODE, PUT_DOC, LEASE, RELEASE, RAISE, FIX_LAYOUT } from './redis-scripts.ts';
import { MOVE_SCRIPT } from './pin-moves.ts';

/**
 * How to reach Redis: one server by URL, a Redis Cluster by some of its
 * nodes, or the master a set of Sentinels names. URLs are `redis://` or
 * `rediss://` (TLS), with credentials in them when the servers ask for some.
 */
export type RedisConnection =
  | { url: string }
  | { cluster: string[] }
  | { sentinel: { name: string; sentinels: string[] } };

export type RedisStoreOptions = RedisConnection & {
  prefix: string;
  commandTimeoutMs: number;
  pinTtlMs: number;
  pinBuckets?: number;
  backends: string[];
  /**
   * Replicas that must hold a pin before a pin write counts as done (WAIT);
   * 0: the master's answer is enough. See `#pinWriters`. Not on a Cluster.
   */
  waitReplicas?: number;
  onError?: (err: Error) => void;
};

const auth = (a: Address) => ({ ...(a.username ? { username: a.username } : {}), ...(a.password ? { password: a.password } : {}), ...(a.tls ? { tls: {} } : {}) });

/**
 * A client for `c` with `options`. Cluster: commands go to the node owning
 * their key's slot (every command here names one slot), never to a replica;
 * Sentinel: to the master the Sentinels name now, found again after a failover.
 */
function client(c: RedisConnection, options: RedisOptions): Redis | Cluster {
  if ('cluster' in c) {
    const nodes = c.cluster.map(address);
    const { lazyConnect, enableOfflineQueue, retryStrategy, ...perNode } = options;
    return new Cluster(nodes.map(({ host, port }) => ({ host, port })), {
      lazyConnect, enableOfflineQueue, clusterRetryStrategy: retryStrategy, scaleReads: 'master',
      // Re-read the slot map every second: a master that went away is found again without waiting for a command to fail.
      slotsRefreshInterval: 1000,
      // With TLS, keep the node names: certificates usually name hosts, not addresses.
      ...(nodes[0].tls ? { dnsLookup: (host: string, callback: (err: null, address: string) => void) => callback(null, host) } : {}),
      redisOptions: { ...perNode, ...auth(nodes[0]) },
    });
  }
  if ('sentinel' in c) {
    const sentinels = c.sentinel.sentinels.map(address);
    const first = sentinels[0];
    return new Redis({
      ...options, name: c.sentinel.name, sentinels: sentinels.map(({ host, port }) => ({ host, port })),
      // One set of credentials for the Sentinels and the master (from the first Sentinel URL).
      ...auth(first), ...(first.username ? { sentinelUsername: first.username } : {}), ...(first.password ? { sentinelPassword: first.password } : {}),
      ...(first.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    });
  }
  return new Redis(c.url, options);
}

/** Connections for pin writes when they wait for replicas. */
const PIN_WRITERS = 4;

/** Scripts every client of the store runs by name: [command name, Lua, number of keys (undefined: given per call)]. */
const SCRIPTS: readonly (readonly [string, string, number | undefined])[] = [
  ['cvPin', PIN_SCRIPT, undefined], ['cvClaims', CLAIMS_SCRIPT, undefined], ['cvReleaseClaims', RELEASE_SCRIPT, undefined], ['cvFixLayout', FIX_LAYOUT, 1], ['cvPutRules', PUT_RULES, 1], ['cvGetRules', GET_RULES, 1],
  ['cvBackendCode', BACKEND_CODE, 1], ['cvPutDoc', PUT_DOC, 1], ['cvLease', LEASE, 1], ['cvRelease', RELEASE, 1],
  ['cvMove', MOVE_SCRIPT, undefined], ['cvRaise', RAISE, 1],
];

/** The connections of one RedisStore, with the pin layout and backend codes they agree on with the server. */
export class RedisLink {
  readonly redis: Redis | Cluster;
  readonly #sub: Redis | Cluster;
  /**
   * With `waitReplicas`, pin writes go out on connections of their own, each
   * followed by WAIT: a client blocked in WAIT holds up its connection's later
   * commands, which must not be every lookup. Several, taken in turn, so
   * that pin writes do not all queue behind one replica round trip. Empty
   * otherwise.
   */
  readonly #pinWriters: Redis[] = [];
  #nextWriter = 0;
  #closed = false;
  readonly #waitReplicas: number;
  readonly #waitMs: number;
  readonly #p: string;
  readonly #handlers = new Set<(e: ChangeEvent) => void>();
  #layout!: PinLayout;
  #codes = new Map<string, number>();
  #names = new Map<number, string>();
  /** Set after a reconnect until the layout and codes agree with the store again. */
  #settling: Promise<void> | null = null;
  readonly #wantedLayout: PinLayout;

  private constructor(opts: RedisStoreOptions) {
    this.#p = opts.prefix;
    const ttlSec = Math.max(1, Math.ceil(opts.pinTtlMs / 1000));
    // On a Cluster a create's claims share a slot (pin-layout.ts): one script call makes them all.
    this.#wantedLayout = defaultLayout(ttlSec, opts.pinBuckets, 'cluster' in opts ? 'merchant' : 'digest');
    const retryStrategy = (times: number) => Math.min(50 * times, 1000);
    // The request path must never wait on a dead store: no offline queue, one
    // bounded command timeout, no retries of a command (SPEC 4, store outage).
    const requestPath: RedisOptions = {
      commandTimeout: opts.commandTimeoutMs, enableOfflineQueue: false, maxRetriesPerRequest: 0,
      connectTimeout: 2000, retryStrategy, lazyConnect: true,
      // No auto-pipelining: it keeps one batch in flight per connection, so a command
      // issued while a batch awaits its answer waits a whole round trip before it is
      // even sent, and one late answer holds up every create behind it. Without it,
      // commands go out at once and share the connection (BENCHMARKS.md, README:
      // lower p99 at moderate rates, less CPU per request, the same peak).
      enableAutoPipelining: false,
    };
    this.redis = client(opts, requestPath);
    this.#waitReplicas = opts.waitReplicas ?? 0;
    // WAIT answers with the count so far when its own timeout passes: well under the command timeout.
    this.#waitMs = Math.max(1, Math.floor(opts.commandTimeoutMs / 2));
    if (this.#waitReplicas > 0) {
      // Not on a Cluster: a WAIT pipeline that meets MOVED is not redirected, and a second
      // Cluster client would keep its own, soon stale, slot map (the config refuses it).
      if ('cluster' in opts) throw new Error('waitReplicas is not supported on a Redis Cluster');
      for (let i = 0; i < PIN_WRITERS; i++) this.#pinWriters.push(client(opts, requestPath) as Redis);
    }
    this.#sub = client(opts, { retryStrategy, lazyConnect: true, maxRetriesPerRequest: null });
    const onError = opts.onError ?? (() => {});
    for (const c of [this.redis, this.#sub, ...this.#pinWriters]) c.on('error', onError);
    for (const [name, lua, keys] of SCRIPTS) this.redis.defineCommand(name, { lua, numberOfKeys: keys });
    // A server that comes back empty (restarted without persistence, failed over to an
    // empty replica) has lost the layout and the backend codes; put back the ones this
    // instance writes with before it writes again, so that no two instances disagree.
    // A settling that fails (the server answered ready but not yet every command) is tried
    // again shortly, a bounded number of times, so that it is never silently skipped.
    const settle = (attempt = 1) => {
      if (!this.#layout || this.#closed) return;
      const settling: Promise<void> = this.#settle()
        .catch((err) => { onError(err); if (attempt < 20) setTimeout(() => settle(attempt + 1), 250).unref(); })
        .finally(() => { if (this.#settling === settling) this.#settling = null; });
      this.#settling = settling;
    };
    // A pin writer may find the server again before the main client does: either starts the settling.
    for (const c of [this.redis, ...this.#pinWriters]) c.on('ready', () => settle());
    // On a Cluster the client as a whole stays ready while one master restarts (maybe empty,
    // maybe the one holding the layout or the codes): settle whenever a node's connection is ready again.
    if (this.redis instanceof Cluster) {
      // Node connections are made lazily, on a command for their slots: connect each at once, so that
      // the settling runs before the first pin write there, not after it.
      this.redis.on('+node', (node: Redis) => {
        node.on('ready', () => { if (this.redis.status === 'ready') settle(); });
        // Only once the store is up: during the Cluster client's own first connect it manages its nodes itself.
        if (this.#layout) setImmediate(() => { if (node.status === 'wait') node.connect().catch(() => {}); });
      });
    }
    this.#sub.on('message', (_channel: string, message: string) => {
      // Anyone who can PUBLISH may send anything here: only well-formed events get through,
      // and a handler's failure never reaches ioredis's event loop.
      let event: ChangeEvent;
      try { event = JSON.parse(message); } catch { return; }
      if (!event || typeof event !== 'object' || typeof event.kind !== 'string') return;
      for (const h of this.#handlers) {
        try { h(event); } catch (err) { opts.onError?.(err as Error); }
      }
    });
  }

  /** Connects both clients, fixes the pin layout and registers backend codes. */
  static async connect(opts: RedisStoreOptions): Promise<RedisLink> {
    const store = new RedisLink(opts);
    await store.redis.connect();
    await store.#sub.connect();
    await Promise.all(store.#pinWriters.map((w) => w.connect()));
    await store.#sub.subscribe(`${opts.prefix}events`);
    await store.#fixLayout(store.#wantedLayout);
    await store.loadCodes();
    for (const name of opts.backends) await store.code(name);
    return store;
  }

  /** Stores `wanted` as the pin layout unless one is stored, and adopts the stored one. */
  async #fixLayout(wanted: PinLayout): Promise<void> {
    // One script, so that two instances starting together never store a mix of both layouts.
    const flat = await (this.redis as any).cvFixLayout(`${this.#p}pinlayout`, wanted.windowSeconds, wanted.buckets, wanted.claims) as string[];
    const meta: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) meta[flat[i]] = flat[i + 1];
    this.#layout = { windowSeconds: Number(meta.windowSeconds), buckets: Number(meta.buckets), claims: meta.claims === 'merchant' ? 'merchant' : 'digest' };
  }

  /** After a reconnect: re-registers the layout and every code this instance knows, then adopts what the store holds. */
  async #settle(): Promise<void> {
    await this.#fixLayout(this.#layout);
    const key = `${this.#p}backendcodes`;
    for (const [name, code] of this.#codes) {
      await (this.redis as any).cvBackendCode(key, name, MAX_BACKEND_CODES, code);
    }
    const all = await this.redis.hgetall(key);
    this.#codes = new Map(Object.entries(all).map(([n, c]) => [n, Number(c)]));
    this.#names = new Map(Object.entries(all).map(([n, c]) => [Number(c), n]));
  }

  get layout(): PinLayout { return this.#layout; }

  /** The code of a backend name, registered in the store on first use. */
  async code(name: string): Promise<number> {
    let code = this.#codes.get(name);
    if (code !== undefined) return code;
    code = await (this.redis as any).cvBackendCode(`${this.#p}backendcodes`, name, MAX_BACKEND_CODES) as number;
    if (code < 0) throw new Error(`more than ${MAX_BACKEND_CODES} backend names have been pinned in this store`);
    this.#codes.set(name, code);
    this.#names.set(code, name);
    return code;
  }

  /** Reads every backend code (a pin may name a backend another instance registered). */
  async loadCodes(): Promise<void> {
    const all = await this.redis.hgetall(`${this.#p}backendcodes`);
    for (const [n, c] of Object.entries(all)) { this.#codes.set(n, Number(c)); this.#names.set(Number(c), n); }
  }

  /** A code's backend name, if known here. */
  nameOf(code: number): string | undefined { return this.#names.get(code); }

  /** Every backend code known here. */
  get codes(): ReadonlyMap<string, number> { return this.#codes; }

  /** A known backend's code, without asking the store. */
  knownCode(name: string): number | undefined { return this.#codes.get(name); }

  /** Resolves once a settling after a reconnect is over (at once when none runs). */
  async settled(): Promise<void> {
    if (this.#settling) await this.#settling;
  }

  /** True on a Redis Cluster. */
  get cluster(): boolean { return this.redis instanceof Cluster; }

  /** True when pin writes go out on their own connections, each followed by WAIT. */
  get waitsForReplicas(): boolean { return this.#pinWriters.length > 0; }

  /**
   * The pin script, then WAIT on the same connection, in one pipeline. Fewer
   * replicas than asked within the wait, whether this call wrote the pin or
   * found it (maybe written by a call that failed the same way): an error, so
   * that the caller fails closed rather than hand out an id a failover could
   * lose. The script goes as EVAL, not EVALSHA: a server without it cached
   * (after a failover or SCRIPT FLUSH) would make the client send it again
   * after the WAIT had answered for the write that never happened.
   */
  async replicated<T = [string, number, number?] | null>(script: string, args: (string | number)[]): Promise<T> {
    if (this.redis.status !== 'ready') throw new Error('the store is not ready');
    if (this.#settling) await this.#settling;
    const writer = this.#pinWriters[this.#nextWriter++ % this.#pinWriters.length];
    const [numKeys, ...rest] = args;
    const res = await writer.pipeline().eval(script, numKeys, ...rest).wait(this.#waitReplicas, this.#waitMs).exec() as [Error | null, unknown][];
    const [[pinErr, found], [waitErr, acked]] = res;
    if (pinErr) throw pinErr;
    if (waitErr) throw waitErr;
    if ((acked as number) < this.#waitReplicas) {
      throw new Error(`pin held by ${acked} of ${this.#waitReplicas} replicas after ${this.#waitMs} ms`);
    }
    return found as T;
  }

  /** Tells every instance (this one included) about a change. */
  async publish(event: ChangeEvent): Promise<void> {
    await this.redis.publish(`${this.#p}events`, JSON.stringify(event));
  }

  /** Calls `handler` for every well-formed change event; returns an unsubscribe function. */
  subscribe(handler: (event: ChangeEvent) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    const clients = [this.redis, this.#sub, ...this.#pinWriters];
    await Promise.allSettled(clients.map((c) => c.quit()));
    for (const c of clients) c.disconnect();
  }
}
