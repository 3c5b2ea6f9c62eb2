/**
 * The Redis store's commands, shared by every gateway instance. Every key
 * carries the configured prefix; no command spans two keys of different
 * slots, so the layout runs unchanged on Redis Cluster. Pins: see
 * pin-layout.ts; connections, topology and pub/sub: redis-link.ts.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Ruleset } from '../rules.ts';
import {
  VersionConflictError,
  type AuditEntry, type ChangeEvent, type ClaimWant, type ClaimsResult, type MerchantFlag, type Pin, type PinResult,
  type RulesetMeta, type Store, type StoredRuleset,
} from './types.ts';
import calculateSlot from 'cluster-key-slot';
import { packPin, pinSlot, splitTag, unpackPin, windowExpiresIn, windowKey, CLAIMS_SCRIPT, PIN_SCRIPT, RELEASE_SCRIPT, type PinLayout } from './pin-layout.ts';
import { RedisLink, type RedisStoreOptions } from './redis-link.ts';
import { countField, countKey, isTransactionKey, sliceOf, sliceSeconds, tally, type BackendPinCount } from './pin-counts.ts';
import { MOVE_OUTCOMES, MOVE_SCRIPT, type MoveOutcome } from './pin-moves.ts';

export type { RedisConnection, RedisStoreOptions } from './redis-link.ts';

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly #link: RedisLink;
  readonly #p: string;
  readonly #ttlSec: number;

  private constructor(link: RedisLink, opts: RedisStoreOptions) {
    this.#link = link;
    this.#p = opts.prefix;
    this.#ttlSec = Math.max(1, Math.ceil(opts.pinTtlMs / 1000));
  }

  /** Connects, fixes the pin layout and registers backend codes (redis-link.ts). */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    return new RedisStore(await RedisLink.connect(opts), opts);
  }

  get layout(): PinLayout { return this.#link.layout; }

  /** The redis client, for the benchmark's memory report and the tests. */
  get client(): Redis | Cluster { return this.#link.redis; }

  async ping(): Promise<void> {
    await this.#link.redis.ping();
  }

  /** The key and leading arguments of a pin script call for `key` (see LIVE in pin-layout.ts). */
  async #pinCall(key: string, nowMs: number): Promise<{ keys: string[]; args: (string | number)[]; nowSec: number; window: number; bucket: number }> {
    await this.#link.settled();
    const nowSec = Math.floor(nowMs / 1000);
    const { field, bucket, home } = pinSlot(key, this.#link.layout);
    const window = Math.floor(nowSec / this.#link.layout.windowSeconds);
    // The script reads the windows down from the one after the current one: near a window boundary
    // an instance whose clock is a little ahead may have pinned this key there already, and a pin
    // must never be set twice.
    return { keys: [windowKey(this.#p, home, window + 1)], args: [field, nowSec, this.#ttlSec, this.#link.layout.windowSeconds, window + 1], nowSec, window, bucket };
  }

  /** The value to write for a new pin of `backend`, and the expiry of its window's hash. */
  async #newValue(backend: string, c: { nowSec: number; window: number }): Promise<[string, number]> {
    const code = this.#link.knownCode(backend) ?? await this.#link.code(backend);
    return [packPin(code, c.nowSec, c.window, this.#link.layout), windowExpiresIn(c.nowSec, c.window, this.#ttlSec, this.#link.layout)];
  }

  /** A stored value (and its window) as a pin. */
  async #toPin(found: [string, number, number?]): Promise<PinResult> {
    const { code, pinnedAtSec, tag, movingUntil } = unpackPin(found[0], Number(found[1]), this.#link.layout);
    let name = this.#link.nameOf(code);
    if (name === undefined) { await this.#link.loadCodes(); name = this.#link.nameOf(code); }
    if (name === undefined) throw new Error(`pin names unknown backend code ${code}`);
    const pinnedAt = pinnedAtSec * 1000;
    return { backend: name, pinnedAt, expiresAt: pinnedAt + this.#ttlSec * 1000, ...(tag === undefined ? {} : { tag }), ...(movingUntil === undefined ? {} : { movingUntil }), created: found[2] === 1 };
  }

  async #pin(key: string, nowMs: number, backend?: string): Promise<PinResult | null> {
    const c = await this.#pinCall(key, nowMs);
    if (backend !== undefined) {
      c.args.push(...await this.#newValue(backend, c));
      // A transaction's pin is counted by the call that writes it (pin-counts.ts).
      if (isTransactionKey(key)) c.args.push(countKey(this.#p, c.bucket, this.#link.cluster), countField(this.#link.knownCode(backend)!, sliceOf(c.nowSec + this.#ttlSec, sliceSeconds(this.#link.layout))));
    }
    const found = backend !== undefined && this.#link.waitsForReplicas
      ? await this.#link.replicated(PIN_SCRIPT, [c.keys.length, ...c.keys, ...c.args])
      : await (this.#link.redis as any).cvPin(c.keys.length, ...c.keys, ...c.args) as [string, number, number?] | null;
    return found && this.#toPin(found);
  }

  /** Runs a script that writes pins: on the pin writers when pins wait for replicas. */
  async #write<T>(script: string, command: string, keys: string[], args: (string | number)[]): Promise<T> {
    return this.#link.waitsForReplicas
      ? this.#link.replicated<T>(script, [keys.length, ...keys, ...args])
      : (this.#link.redis as any)[command](keys.length, ...keys, ...args);
  }

  /**
   * The window keys and per-pin arguments of a script over several pins, or
   * null when they are not all in one Cluster slot (a Cluster store laid out
   * before a create's claims shared one, pin-layout.ts).
   */
  async #manyCall(claims: readonly ClaimWant[], nowMs: number) {
    const calls = await Promise.all(claims.map((c) => this.#pinCall(c.key, nowMs)));
    if (this.#link.cluster && new Set(calls.map((c) => calculateSlot(c.keys[0]))).size > 1) return null;
    const keys = calls.flatMap((c) => c.keys);
    const perPin = claims.flatMap((c, i) => { const { token, fingerprint } = splitTag(c.tag); return [calls[i].args[0], token, fingerprint]; });
    return { first: calls[0], keys, lead: [claims.length, ...calls[0].args.slice(1)], perPin };
  }

  async claimPins(claims: readonly ClaimWant[], backend: string, follow: boolean, now: number): Promise<ClaimsResult> {
    if (claims.length === 0) return { claimed: true, pins: [] };
    const call = await this.#manyCall(claims, now);
    if (!call) return this.#claimOneByOne(claims, backend, follow, now);
    const c = call.first;
    const code = this.#link.knownCode(backend) ?? await this.#link.code(backend);
    const args = [...call.lead, now, code, follow ? 1 : 0, windowExpiresIn(c.nowSec, c.window, this.#ttlSec, this.#link.layout), packPin(0, c.nowSec, c.window, this.#link.layout), ...call.perPin];
    const r = await this.#write<(string | number | null)[]>(CLAIMS_SCRIPT, 'cvClaims', call.keys, args);
    if (r[0] === 1) {
      return { claimed: true, pins: await Promise.all(claims.map((_, i) => this.#toPin(r.slice(1 + 3 * i, 4 + 3 * i) as [string, number, number]))) };
    }
    return {
      claimed: false,
      pins: await Promise.all(claims.map(async (_, i) => {
        const v = r[1 + 2 * i];
        if (v === null) return null;
        const { created: _c, ...pin } = await this.#toPin([String(v), Number(r[2 + 2 * i])]);
        return pin;
      })),
    };
  }

  /**
   * Claims whose pins lie in different Cluster slots: the first, then the rest on its
   * backend. A refusal of the rest releases the first if this call made it.
   */
  async #claimOneByOne(claims: readonly ClaimWant[], backend: string, follow: boolean, now: number): Promise<ClaimsResult> {
    const first = await this.claimPins(claims.slice(0, 1), backend, follow, now);
    if (!first.claimed) return { claimed: false, pins: [...first.pins, ...claims.slice(1).map(() => null)] };
    const rest = await this.claimPins(claims.slice(1), first.pins[0].backend, false, now);
    if (rest.claimed) return { claimed: true, pins: [...first.pins, ...rest.pins] };
    if (first.pins[0].created) await this.releasePins(claims.slice(0, 1), now);
    const { created: _c, ...pin } = first.pins[0];
    return { claimed: false, pins: [pin, ...rest.pins] };
  }

  async releasePins(claims: readonly ClaimWant[], now: number): Promise<boolean[]> {
    if (claims.length === 0) return [];
    const call = await this.#manyCall(claims, now);
    if (!call) return (await Promise.all(claims.map((c) => this.releasePins([c], now)))).flat();
    const r = await this.#write<number[]>(RELEASE_SCRIPT, 'cvReleaseClaims', call.keys, [...call.lead, ...call.perPin]);
    return r.map((deleted) => deleted === 1);
  }

  async pinIfAbsent(key: string, backend: string, now: number): Promise<PinResult> {
    return (await this.#pin(key, now, backend))!;
  }

  async getPin(key: string, now: number): Promise<Pin | null> {
    const r = await this.#pin(key, now);
    if (!r) return null;
    const { created: _, ...pin } = r;
    return pin;
  }

  async movePins(op: 'freeze' | 'move' | 'thaw', keys: readonly string[], from: string, to: string, untilMs: number, now: number): Promise<MoveOutcome[]> {
    const [fromCode, toCode] = [await this.#link.code(from), await this.#link.code(to)];
    const slice = sliceSeconds(this.#link.layout);
    return Promise.all(keys.map(async (key) => {
      const c = await this.#pinCall(key, now);
      const args = [c.keys.length, ...c.keys, ...c.args, op, fromCode, toCode, untilMs, now, slice, isTransactionKey(key) ? countKey(this.#p, c.bucket, this.#link.cluster) : ''];
      const r = this.#link.waitsForReplicas ? await this.#link.replicated<number>(MOVE_SCRIPT, args) : await (this.#link.redis as any).cvMove(...args) as number;
      return MOVE_OUTCOMES[r];
    }));
  }

  async pinCounts(now: number): Promise<Record<string, BackendPinCount>> {
    await this.#link.loadCodes();
    const layout = this.#link.layout;
    const nowSec = Math.floor(now / 1000);
    const slice = sliceSeconds(layout);
    const keys = new Set<string>();
    for (let b = 0; b < (this.#link.cluster ? layout.buckets : 1); b++) keys.add(countKey(this.#p, b, this.#link.cluster));
    const out: Record<string, BackendPinCount> = {};
    await Promise.all([...keys].map(async (key) => {
      const all = await this.#link.redis.hgetall(key);
      const gone: string[] = [];
      for (const [field, v] of Object.entries(all)) {
        const [code, sliceNo] = field.split(':').map(Number);
        // Slices past their end are dropped, so that the hash holds live counts only.
        if ((sliceNo + 1) * slice <= nowSec) gone.push(field);
        else tally(out, this.#link.nameOf(code) ?? `#${code}`, sliceNo, Number(v), slice, nowSec);
      }
      if (gone.length) await this.#link.redis.hdel(key, ...gone);
    }));
    return out;
  }

  async getRules(): Promise<StoredRuleset | null> {
    const raw = await (this.#link.redis as any).cvGetRules(`${this.#p}rules`) as string | null;
    return raw ? JSON.parse(raw) : null;
  }

  async getRulesVersion(version: number): Promise<StoredRuleset | null> {
    const raw = await this.#link.redis.hget(`${this.#p}rules`, String(version));
    return raw ? JSON.parse(raw) : null;
  }

  async rulesHistory(): Promise<RulesetMeta[]> {
    const all = await this.#link.redis.hgetall(`${this.#p}rules`);
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
    const [ok, n] = await (this.#link.redis as any).cvPutRules(`${this.#p}rules`, meta.ifVersion ?? '', JSON.stringify(doc)) as [number, number];
    if (!ok) throw new VersionConflictError(n);
    return { version: n, ...doc };
  }

  async listFlags(): Promise<MerchantFlag[]> {
    const all = await this.#link.redis.hgetall(`${this.#p}flags`);
    return Object.values(all).map((v) => JSON.parse(v));
  }

  async getFlag(merchant: string): Promise<MerchantFlag | null> {
    const raw = await this.#link.redis.hget(`${this.#p}flags`, merchant);
    return raw ? JSON.parse(raw) : null;
  }

  async putFlag(flag: MerchantFlag): Promise<MerchantFlag | null> {
    // HSET then read back the old value atomically: a transaction on one key.
    const res = await this.#link.redis.multi().hget(`${this.#p}flags`, flag.merchant).hset(`${this.#p}flags`, flag.merchant, JSON.stringify(flag)).exec();
    const before = res?.[0]?.[1] as string | null;
    return before ? JSON.parse(before) : null;
  }

  async deleteFlag(merchant: string): Promise<MerchantFlag | null> {
    const res = await this.#link.redis.multi().hget(`${this.#p}flags`, merchant).hdel(`${this.#p}flags`, merchant).exec();
    const before = res?.[0]?.[1] as string | null;
    return before ? JSON.parse(before) : null;
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#link.redis.rpush(`${this.#p}audit`, JSON.stringify(entry));
  }

  async listAudit(limit: number): Promise<AuditEntry[]> {
    const raw = await this.#link.redis.lrange(`${this.#p}audit`, -limit, -1);
    return raw.map((r) => JSON.parse(r)).reverse();
  }

  async getDoc<T>(name: string): Promise<{ rev: number; value: T } | null> {
    const d = await this.#link.redis.hgetall(`${this.#p}doc:${name}`);
    return d.rev ? { rev: Number(d.rev), value: JSON.parse(d.value) } : null;
  }

  async putDoc<T>(name: string, value: T, ifRev: number): Promise<number | null> {
    return await (this.#link.redis as any).cvPutDoc(`${this.#p}doc:${name}`, ifRev, JSON.stringify(value)) as number | null;
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await (this.#link.redis as any).cvLease(`${this.#p}lease:${name}`, owner, ttlMs)) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await (this.#link.redis as any).cvRelease(`${this.#p}lease:${name}`, owner);
  }

  async addCounters(name: string, fields: Record<string, number>, ttlMs: number): Promise<void> {
    const key = `${this.#p}counters:${name}`;
    const m = this.#link.redis.multi();
    for (const [f, v] of Object.entries(fields)) m.hincrbyfloat(key, f, v);
    m.pexpire(key, ttlMs, 'NX');
    await m.exec();
  }

  async readCounters(name: string): Promise<Record<string, number>> {
    const all = await this.#link.redis.hgetall(`${this.#p}counters:${name}`);
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, Number(v)]));
  }

  async raiseCounters(name: string, fields: Record<string, number>, ttlMs: number): Promise<void> {
    await (this.#link.redis as any).cvRaise(`${this.#p}counters:${name}`, ttlMs, ...Object.entries(fields).flat());
  }

  async publish(event: ChangeEvent): Promise<void> {
    await this.#link.publish(event);
  }

  subscribe(handler: (event: ChangeEvent) => void): () => void {
    return this.#link.subscribe(handler);
  }

  async close(): Promise<void> {
    await this.#link.close();
  }
}
