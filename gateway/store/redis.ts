/**
 * The Redis store, shared by every gateway instance. Every key carries the
 * configured prefix; no command spans two keys of different slots, so the
 * layout runs unchanged on Redis Cluster. Pins: see pin-layout.ts.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Ruleset } from '../rules.ts';
import {
  VersionConflictError,
  type AuditEntry, type ChangeEvent, type MerchantFlag, type Pin, type PinResult,
  type RulesetMeta, type Store, type StoredRuleset,
} from './types.ts';
import {
  defaultLayout, liveWindows, packPin, pinSlot, unpackPin, windowExpiresIn, windowKey,
  MAX_BACKEND_CODES, PIN_SCRIPT, CLAIM_SCRIPT, type PinLayout,
} from './pin-layout.ts';
import { address, type Address } from './redis-address.ts';
import { PUT_RULES, GET_RULES, BACKEND_CODE, PUT_DOC, LEASE, RELEASE } from './redis-scripts.ts';

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

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly #redis: Redis | Cluster;
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
  readonly #ttlSec: number;
  readonly #handlers = new Set<(e: ChangeEvent) => void>();
  #layout!: PinLayout;
  #codes = new Map<string, number>();
  #names = new Map<number, string>();
  /** Set after a reconnect until the layout and codes agree with the store again. */
  #settling: Promise<void> | null = null;
  readonly #wantedLayout: PinLayout;

  private constructor(opts: RedisStoreOptions) {
    this.#p = opts.prefix;
    this.#ttlSec = Math.max(1, Math.ceil(opts.pinTtlMs / 1000));
    this.#wantedLayout = defaultLayout(this.#ttlSec, opts.pinBuckets);
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
    this.#redis = client(opts, requestPath);
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
    for (const c of [this.#redis, this.#sub, ...this.#pinWriters]) c.on('error', onError);
    for (const [name, lua, keys] of [
      ['cvPin', PIN_SCRIPT, undefined], ['cvClaim', CLAIM_SCRIPT, undefined], ['cvPutRules', PUT_RULES, 1], ['cvGetRules', GET_RULES, 1],
      ['cvBackendCode', BACKEND_CODE, 1], ['cvPutDoc', PUT_DOC, 1], ['cvLease', LEASE, 1], ['cvRelease', RELEASE, 1],
    ] as const) {
      this.#redis.defineCommand(name, { lua, numberOfKeys: keys });
    }
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
    for (const c of [this.#redis, ...this.#pinWriters]) c.on('ready', () => settle());
    // On a Cluster the client as a whole stays ready while one master restarts (maybe empty,
    // maybe the one holding the layout or the codes): settle whenever a node's connection is ready again.
    if (this.#redis instanceof Cluster) {
      // Node connections are made lazily, on a command for their slots: connect each at once, so that
      // the settling runs before the first pin write there, not after it.
      this.#redis.on('+node', (node: Redis) => {
        node.on('ready', () => { if (this.#redis.status === 'ready') settle(); });
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
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(opts);
    await store.#redis.connect();
    await store.#sub.connect();
    await Promise.all(store.#pinWriters.map((w) => w.connect()));
    await store.#sub.subscribe(`${opts.prefix}events`);
    await store.#fixLayout(store.#wantedLayout);
    await store.#loadCodes();
    for (const name of opts.backends) await store.#code(name);
    return store;
  }

  /** Stores `wanted` as the pin layout unless one is stored, and adopts the stored one. */
  async #fixLayout(wanted: PinLayout): Promise<void> {
    const metaKey = `${this.#p}pinlayout`;
    // One transaction, so that two instances starting together never store a mix of both layouts.
    const res = await this.#redis.multi()
      .hsetnx(metaKey, 'windowSeconds', wanted.windowSeconds).hsetnx(metaKey, 'buckets', wanted.buckets).hgetall(metaKey)
      .exec();
    const [err, meta] = res![2] as [Error | null, Record<string, string>];
    if (err) throw err;
    this.#layout = { windowSeconds: Number(meta.windowSeconds), buckets: Number(meta.buckets) };
  }

  /** After a reconnect: re-registers the layout and every code this instance knows, then adopts what the store holds. */
  async #settle(): Promise<void> {
    await this.#fixLayout(this.#layout);
    const key = `${this.#p}backendcodes`;
    for (const [name, code] of this.#codes) {
      await (this.#redis as any).cvBackendCode(key, name, MAX_BACKEND_CODES, code);
    }
    const all = await this.#redis.hgetall(key);
    this.#codes = new Map(Object.entries(all).map(([n, c]) => [n, Number(c)]));
    this.#names = new Map(Object.entries(all).map(([n, c]) => [Number(c), n]));
  }

  get layout(): PinLayout { return this.#layout; }

  /** The redis client, for the benchmark's memory report and the tests. */
  get client(): Redis | Cluster { return this.#redis; }

  async #code(name: string): Promise<number> {
    let code = this.#codes.get(name);
    if (code !== undefined) return code;
    code = await (this.#redis as any).cvBackendCode(`${this.#p}backendcodes`, name, MAX_BACKEND_CODES) as number;
    if (code < 0) throw new Error(`more than ${MAX_BACKEND_CODES} backend names have been pinned in this store`);
    this.#codes.set(name, code);
    this.#names.set(code, name);
    return code;
  }

  /** Reads every backend code (a pin may name a backend another instance registered). */
  async #loadCodes(): Promise<void> {
    const all = await this.#redis.hgetall(`${this.#p}backendcodes`);
    for (const [n, c] of Object.entries(all)) { this.#codes.set(n, Number(c)); this.#names.set(Number(c), n); }
  }

  async ping(): Promise<void> {
    await this.#redis.ping();
  }

  /** The keys and leading arguments of a pin script call for `key` (see FIND_LIVE in pin-layout.ts). */
  async #pinCall(key: string, nowMs: number): Promise<{ keys: string[]; args: (string | number)[]; nowSec: number; window: number }> {
    if (this.#settling) await this.#settling;
    const nowSec = Math.floor(nowMs / 1000);
    const { field, bucket } = pinSlot(key, this.#layout);
    const windows = liveWindows(nowSec, this.#ttlSec, this.#layout);
    // Read one window ahead too: near a window boundary an instance whose clock is a little
    // ahead may have pinned this key there already, and a pin must never be set twice.
    const keys = [windows[0] + 1, ...windows].map((w) => windowKey(this.#p, bucket, w));
    return { keys, args: [field, nowSec, this.#ttlSec, this.#layout.windowSeconds, windows[0] + 1], nowSec, window: windows[0] };
  }

  /** The value to write for a new pin of `backend`, and the expiry of its window's hash. */
  async #newValue(backend: string, c: { nowSec: number; window: number }, tag?: string): Promise<[string, number]> {
    const code = this.#codes.get(backend) ?? await this.#code(backend);
    return [packPin(code, c.nowSec, c.window, this.#layout, tag), windowExpiresIn(c.nowSec, c.window, this.#ttlSec, this.#layout)];
  }

  /** A stored value (and its window) as a pin. */
  async #toPin(found: [string, number, number?]): Promise<PinResult> {
    const { code, pinnedAtSec, tag } = unpackPin(found[0], Number(found[1]), this.#layout);
    let name = this.#names.get(code);
    if (name === undefined) { await this.#loadCodes(); name = this.#names.get(code); }
    if (name === undefined) throw new Error(`pin names unknown backend code ${code}`);
    const pinnedAt = pinnedAtSec * 1000;
    return { backend: name, pinnedAt, expiresAt: pinnedAt + this.#ttlSec * 1000, ...(tag === undefined ? {} : { tag }), created: found[2] === 1 };
  }

  async #pin(key: string, nowMs: number, backend?: string, tag?: string): Promise<PinResult | null> {
    const c = await this.#pinCall(key, nowMs);
    if (backend !== undefined) c.args.push(...await this.#newValue(backend, c, tag));
    const found = backend !== undefined && this.#pinWriters.length > 0
      ? await this.#replicatedPin(PIN_SCRIPT, [c.keys.length, ...c.keys, ...c.args])
      : await (this.#redis as any).cvPin(c.keys.length, ...c.keys, ...c.args) as [string, number, number?] | null;
    return found && this.#toPin(found);
  }

  /** Runs the claim script (a write): on the pin writers when pins wait for replicas. */
  async #claimCall(c: { keys: string[]; args: (string | number)[] }): Promise<unknown> {
    return this.#pinWriters.length > 0
      ? this.#replicatedPin(CLAIM_SCRIPT, [c.keys.length, ...c.keys, ...c.args])
      : (this.#redis as any).cvClaim(c.keys.length, ...c.keys, ...c.args);
  }

  /**
   * The pin script, then WAIT on the same connection, in one pipeline. Fewer
   * replicas than asked within the wait, whether this call wrote the pin or
   * found it (maybe written by a call that failed the same way): an error, so
   * that the caller fails closed rather than hand out an id a failover could
   * lose. The script goes as EVAL, not EVALSHA: a server without it cached
   * (after a failover or SCRIPT FLUSH) would make the client send it again
   * after the WAIT had answered for the write that never happened.
   */
  async #replicatedPin<T = [string, number, number?] | null>(script: string, args: (string | number)[]): Promise<T> {
    if (this.#redis.status !== 'ready') throw new Error('the store is not ready');
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

  async pinIfAbsent(key: string, backend: string, now: number, tag?: string): Promise<PinResult> {
    return (await this.#pin(key, now, backend, tag))!;
  }

  async getPin(key: string, now: number): Promise<Pin | null> {
    const r = await this.#pin(key, now);
    if (!r) return null;
    const { created: _, ...pin } = r;
    return pin;
  }

  async releasePin(key: string, tag: string, now: number): Promise<boolean> {
    const c = await this.#pinCall(key, now);
    c.args.push('release', tag);
    return await this.#claimCall(c) === 1;
  }

  async reassertPin(key: string, backend: string, tag: string, now: number): Promise<PinResult> {
    const c = await this.#pinCall(key, now);
    const code = this.#codes.get(backend) ?? await this.#code(backend);
    c.args.push('reassert', tag, code, ...await this.#newValue(backend, c, tag));
    return this.#toPin(await this.#claimCall(c) as [string, number, number?]);
  }

  async getRules(): Promise<StoredRuleset | null> {
    const raw = await (this.#redis as any).cvGetRules(`${this.#p}rules`) as string | null;
    return raw ? JSON.parse(raw) : null;
  }

  async getRulesVersion(version: number): Promise<StoredRuleset | null> {
    const raw = await this.#redis.hget(`${this.#p}rules`, String(version));
    return raw ? JSON.parse(raw) : null;
  }

  async rulesHistory(): Promise<RulesetMeta[]> {
    const all = await this.#redis.hgetall(`${this.#p}rules`);
    return Object.entries(all)
      .filter(([k]) => k !== 'current')
      .map(([, v]) => { const { ruleset: _r, ...meta } = JSON.parse(v) as StoredRuleset; return meta; })
      .sort((a, b) => a.version - b.version);
  }

  async putRules(ruleset: Ruleset, meta: { actor: string; comment?: string; ifVersion?: number; now: Date }): Promise<StoredRuleset> {
    const doc: Omit<StoredRuleset, 'version'> = {
      updatedAt: meta.now.toISOString(), updatedBy: meta.actor,
      ...(meta.comment !== undefined ? { comment: meta.comment } : {}), ruleset,
    };
    const [ok, n] = await (this.#redis as any).cvPutRules(`${this.#p}rules`, meta.ifVersion ?? '', JSON.stringify(doc)) as [number, number];
    if (!ok) throw new VersionConflictError(n);
    return { version: n, ...doc };
  }

  async listFlags(): Promise<MerchantFlag[]> {
    const all = await this.#redis.hgetall(`${this.#p}flags`);
    return Object.values(all).map((v) => JSON.parse(v));
  }

  async getFlag(merchant: string): Promise<MerchantFlag | null> {
    const raw = await this.#redis.hget(`${this.#p}flags`, merchant);
    return raw ? JSON.parse(raw) : null;
  }

  async putFlag(flag: MerchantFlag): Promise<MerchantFlag | null> {
    // HSET then read back the old value atomically: a transaction on one key.
    const res = await this.#redis.multi().hget(`${this.#p}flags`, flag.merchant).hset(`${this.#p}flags`, flag.merchant, JSON.stringify(flag)).exec();
    const before = res?.[0]?.[1] as string | null;
    return before ? JSON.parse(before) : null;
  }

  async deleteFlag(merchant: string): Promise<MerchantFlag | null> {
    const res = await this.#redis.multi().hget(`${this.#p}flags`, merchant).hdel(`${this.#p}flags`, merchant).exec();
    const before = res?.[0]?.[1] as string | null;
    return before ? JSON.parse(before) : null;
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#redis.rpush(`${this.#p}audit`, JSON.stringify(entry));
  }

  async listAudit(limit: number): Promise<AuditEntry[]> {
    const raw = await this.#redis.lrange(`${this.#p}audit`, -limit, -1);
    return raw.map((r) => JSON.parse(r)).reverse();
  }

  async publish(event: ChangeEvent): Promise<void> {
    await this.#redis.publish(`${this.#p}events`, JSON.stringify(event));
  }

  subscribe(handler: (event: ChangeEvent) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async getDoc<T>(name: string): Promise<{ rev: number; value: T } | null> {
    const d = await this.#redis.hgetall(`${this.#p}doc:${name}`);
    return d.rev ? { rev: Number(d.rev), value: JSON.parse(d.value) } : null;
  }

  async putDoc<T>(name: string, value: T, ifRev: number): Promise<number | null> {
    return await (this.#redis as any).cvPutDoc(`${this.#p}doc:${name}`, ifRev, JSON.stringify(value)) as number | null;
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await (this.#redis as any).cvLease(`${this.#p}lease:${name}`, owner, ttlMs)) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await (this.#redis as any).cvRelease(`${this.#p}lease:${name}`, owner);
  }

  async addCounters(name: string, fields: Record<string, number>, ttlMs: number): Promise<void> {
    const key = `${this.#p}counters:${name}`;
    const m = this.#redis.multi();
    for (const [f, v] of Object.entries(fields)) m.hincrbyfloat(key, f, v);
    m.pexpire(key, ttlMs, 'NX');
    await m.exec();
  }

  async readCounters(name: string): Promise<Record<string, number>> {
    const all = await this.#redis.hgetall(`${this.#p}counters:${name}`);
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, Number(v)]));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    const clients = [this.#redis, this.#sub, ...this.#pinWriters];
    await Promise.allSettled(clients.map((c) => c.quit()));
    for (const c of clients) c.disconnect();
  }
}
