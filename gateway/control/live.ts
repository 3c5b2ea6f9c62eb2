/**
 * The routing state this instance serves from memory: the compiled current
 * ruleset and the merchant flags, swapped atomically as one immutable
 * object. It learns of changes from the store's pub/sub, and re-reads the
 * store periodically so that an instance that missed a message converges.
 */
import type { Config } from '../config.ts';
import { readRulesFile } from '../config.ts';
import type { RoutingState } from '../decide.ts';
import { compileRules, rulesetProblems, type Ruleset } from '../rules.ts';
import { VersionConflictError, type ChangeEvent, type Store, type StoredRuleset } from '../store/types.ts';
import type { Logger } from '../log.ts';

export class LiveRouting {
  #state: RoutingState | null = null;
  #meta: Omit<StoredRuleset, 'ruleset'> | null = null;
  readonly #store: Store;
  readonly #config: Readonly<Config>;
  readonly #log: Logger;
  readonly #listeners: ((s: RoutingState) => void)[] = [];
  #timer?: NodeJS.Timeout;
  #unsubscribe?: () => void;
  #reloading: Promise<void> | null = null;
  #again = false;
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
    this.#unsubscribe = this.#store.subscribe((e: ChangeEvent) => {
      if (e.kind === 'rules' || e.kind === 'flags') void this.reload();
    });
    let stored = await this.#store.getRules();
    if (!stored) stored = await this.#seed();
    await this.#apply(stored);
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
    this.#state = Object.freeze({ rules, flags });
    const { ruleset: _r, ...meta } = stored;
    this.#meta = meta;
    for (const fn of this.#listeners) fn(this.#state);
  }

  /** Re-reads rules and flags; concurrent calls coalesce, and a call during a reload runs once more after it. */
  reload(): Promise<void> {
    if (this.#reloading) { this.#again = true; return this.#reloading; }
    this.#reloading = (async () => {
      do {
        this.#again = false;
        try {
          const stored = await this.#store.getRules();
          if (stored) {
            await this.#apply(stored);
            this.#missing = false;
          } else if (this.#state && !this.#missing) {
            this.#missing = true; // said once per occurrence, not at every re-read
            this.#log.warn({ version: this.#state.rules.version }, 'the store holds no ruleset (was it flushed?); serving the last known rules and flags');
          }
        } catch (err) {
          this.#log.warn({ err: (err as Error).message }, 'could not refresh rules from the store; serving the last known rules');
        }
      } while (this.#again);
      this.#reloading = null;
    })();
    return this.#reloading;
  }

  /**
   * A change made through this instance: routes by it before returning, then
   * tells the other instances. A failed notification is logged, not thrown:
   * the change is stored, and their periodic re-read will find it.
   */
  async changed(event: ChangeEvent): Promise<void> {
    await this.reload();
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
