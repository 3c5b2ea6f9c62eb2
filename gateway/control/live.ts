/**
 * The routing state this instance serves from memory: the compiled current
 * ruleset and the merchant flags, swapped atomically as one immutable
 * object. It learns of changes from the store's pub/sub, and re-reads the
 * store periodically so that an instance that missed a message converges.
 */
import type { Config } from '../config.ts';
import { readRulesFile } from '../config.ts';
import type { RoutingState } from '../data/decide.ts';
import { compileRules, rulesetProblems, type Ruleset } from '../rules.ts';
import { VersionConflictError, type ChangeEvent, type Store, type StoredRuleset } from '../store/types.ts';
import type { Logger } from '../log.ts';

/** How many changed flags one step reads; a larger backlog is read in several steps. */
const FLAG_BATCH = 500;

export class LiveRouting {
  #state: RoutingState | null = null;
  #meta: Omit<StoredRuleset, 'ruleset'> | null = null;
  readonly #store: Store;
  readonly #config: Readonly<Config>;
  readonly #log: Logger;
  readonly #listeners: ((s: RoutingState) => void)[] = [];
  #timer?: NodeJS.Timeout;
  #unsubscribe?: () => void;
  /**
   * Every change to the state after the first load runs in one worker, one
   * step at a time, each step reading the store afresh: so a full re-read and
   * a single-flag apply never interleave, and the later one's result stands.
   */
  #working: Promise<void> | null = null;
  #wantFull = false;
  readonly #wantFlags = new Set<string>();
  /** Held by the first load: changes announced meanwhile wait for it. */
  #firstLoad: Promise<void> = Promise.resolve();
  #missing = false;

  constructor(store: Store, config: Readonly<Config>, log: Logger) {
    this.#store = store;
    this.#config = config;
    this.#log = log;
  }

  /** The state the data plane routes by; throws before the first load. */
  get state(): RoutingState {
    if (!this.#state) throw new Error('routing state not loaded');
    return this.#state;
  }

  get loaded(): boolean { return this.#state !== null; }
  get meta(): Omit<StoredRuleset, 'ruleset'> | null { return this.#meta; }

  onSwap(fn: (s: RoutingState) => void): void { this.#listeners.push(fn); }

  /** First load: seeds the store from the config's rules file when it holds no ruleset. Then follows changes. */
  async start(): Promise<void> {
    let loaded!: () => void;
    this.#firstLoad = new Promise((resolve) => { loaded = resolve; });
    this.#unsubscribe = this.#store.subscribe((e: ChangeEvent) => { void this.#follow(e); });
    try {
      let stored = await this.#store.getRules();
      if (!stored) stored = await this.#seed();
      await this.#apply(stored);
    } finally {
      loaded();
    }
    const everyMs = this.#config.redis.refreshSeconds * 1000;
    this.#timer = setInterval(() => void this.reload(), everyMs);
    this.#timer.unref();
  }

  async #seed(): Promise<StoredRuleset> {
    if (!this.#config.rules) throw new Error('the store holds no ruleset and the config names no rules file');
    const raw = readRulesFile(this.#config.rules);
    const problems = rulesetProblems(raw, this.#config.backends);
    if (problems.length > 0) {
      throw new Error(`rules file ${this.#config.rules} is invalid:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    }
    // A comment in the file becomes the version's comment, as for PUT /admin/rules.
    const { comment, ...ruleset } = raw as Ruleset;
    const why = `initial ruleset from ${this.#config.rules}${comment ? `: ${comment}` : ''}`;
    try {
      return await this.#store.putRules(ruleset, { actor: 'config', comment: why, ifVersion: 0, now: new Date() });
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      return (await this.#store.getRules())!; // another instance seeded it first
    }
  }

  async #apply(stored: StoredRuleset): Promise<void> {
    const flagsList = await this.#store.listFlags();
    const same = this.#state && this.#state.rules.version === stored.version;
    const rules = same ? this.#state!.rules : compileRules(stored.ruleset, stored.version, this.#config.backends);
    const flags = new Map(flagsList.filter((f) => this.#config.backends[f.backend]).map((f) => [f.merchant, f.backend]));
    const { ruleset: _r, ...meta } = stored;
    this.#meta = meta;
    this.#swap({ rules, flags });
  }

  #swap(state: RoutingState): void {
    this.#state = Object.freeze(state);
    for (const fn of this.#listeners) fn(this.#state);
  }

  /** What a change event asks of this instance: one merchant's flag, or everything. */
  #follow(e: ChangeEvent): Promise<void> {
    if (e.kind === 'flags' && typeof e.merchant === 'string') {
      this.#wantFlags.add(e.merchant);
      return this.#work();
    }
    if (e.kind === 'rules' || e.kind === 'flags') return this.reload();
    return Promise.resolve();
  }

  /** Re-reads rules and flags; concurrent calls coalesce, and a call during a reload runs once more after it. */
  reload(): Promise<void> {
    this.#wantFull = true;
    return this.#work();
  }

  /** Runs the wanted steps until none is left; a call while it runs is served by the same run. */
  #work(): Promise<void> {
    this.#working ??= (async () => {
      await this.#firstLoad;
      try {
        while (this.#wantFull || this.#wantFlags.size > 0) {
          if (this.#wantFull) {
            this.#wantFull = false;
            // A full re-read reads every flag: the single ones asked for so far are in it.
            const asked = [...this.#wantFlags];
            this.#wantFlags.clear();
            // When the re-read fails, the single flags are still worth trying on their own.
            if (!(await this.#reloadAll())) for (const m of asked) this.#wantFlags.add(m);
            continue;
          }
          const merchants = [...this.#wantFlags].slice(0, FLAG_BATCH);
          for (const m of merchants) this.#wantFlags.delete(m);
          await this.#applyFlags(merchants);
        }
      } finally {
        this.#working = null;
      }
    })();
    return this.#working;
  }

  /** One full re-read; answers whether it succeeded. */
  async #reloadAll(): Promise<boolean> {
    try {
      const stored = await this.#store.getRules();
      if (stored) {
        await this.#apply(stored);
        this.#missing = false;
      } else if (this.#state && !this.#missing) {
        this.#missing = true; // said once per occurrence, not at every re-read
        this.#log.warn({ version: this.#state.rules.version }, 'the store holds no ruleset (was it flushed?); serving the last known rules and flags');
      }
      return true;
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'could not refresh rules from the store; serving the last known rules');
      return false;
    }
  }

  /**
   * Reads only these merchants' flags and swaps in a state with them: a flag
   * change costs one read per instance, not a listing of every flag. A read
   * that fails leaves the old flags; the periodic re-read mends them.
   */
  async #applyFlags(merchants: string[]): Promise<void> {
    try {
      const read = await Promise.all(merchants.map((m) => this.#store.getFlag(m)));
      const current = this.#state;
      if (!current) { this.#wantFull = true; return; } // the first load failed: read everything
      const flags = new Map(current.flags);
      merchants.forEach((m, i) => {
        const f = read[i];
        if (f && this.#config.backends[f.backend]) flags.set(m, f.backend);
        else flags.delete(m);
      });
      this.#swap({ rules: current.rules, flags });
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, merchants: merchants.length }, 'could not apply changed merchant flags; serving the last known ones until the next re-read');
    }
  }

  /**
   * A change made through this instance: routes by it before returning, then
   * tells the other instances. A failed notification is logged, not thrown:
   * the change is stored, and their periodic re-read will find it.
   */
  async changed(event: ChangeEvent): Promise<void> {
    await this.#follow(event);
    try {
      await this.#store.publish(event);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, event }, 'could not notify other instances of a change; they will see it at their next re-read');
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribe?.();
  }
}
