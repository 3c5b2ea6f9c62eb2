/**
 * The rules compiler: validates a ruleset (schema, then semantics) and turns
 * it into an immutable matcher. Requests only ever call the compiled matcher.
 */
import { speaks as speaksIn, type ApiVersion, type BackendConfig } from './config.ts';
import { check, type Problem } from './schemas.ts';
import { bucketOf, BUCKETS } from './bucket.ts';

export interface SplitEntry { backend: string; weight: number }
export interface Rule {
  name: string;
  match: {
    apiVersion?: ApiVersion; merchants?: string[]; methods?: string[];
    pathPrefix?: string; header?: { name: string; equals: string };
  };
  backend?: string;
  split?: SplitEntry[];
  stickyBy?: 'merchant' | 'order';
  salt?: string;
  failover?: string;
}
export interface Ruleset { rules: Rule[]; default: string; comment?: string }

/** What the rules need to know of a request. */
export interface RouteInput {
  apiVersion: ApiVersion;
  merchant: string;
  method: string;
  path: string;
  orderId?: string;
  header(name: string): string | undefined;
}

/** The rules' answer: a backend, why, and for splits the bucket. */
export interface RuleChoice {
  backend: string;
  reason: string;
  rule?: string;
  bucket?: number;
  failover?: string;
}

export interface CompiledRules {
  readonly version: number;
  readonly ruleset: Readonly<Ruleset>;
  choose(input: RouteInput): RuleChoice;
  /** Name of the first rule whose match holds, split or not (the effective split view uses it). */
  firstMatch(input: RouteInput): string | undefined;
}

const ALL_VERSIONS: ApiVersion[] = ['v1', 'v2'];

/** Versions a rule's match can let through (before earlier rules take their share). */
function versionsOf(rule: Rule): ApiVersion[] {
  if (rule.match.apiVersion) return [rule.match.apiVersion];
  const prefix = rule.match.pathPrefix?.match(/^\/api\/(v[12])\//)?.[1] as ApiVersion | undefined;
  return prefix ? [prefix] : ALL_VERSIONS;
}

/** True when a rule takes every request of a version (no condition but the version). */
function capturesWholeVersion(rule: Rule): boolean {
  const { merchants, methods, pathPrefix, header } = rule.match;
  return !merchants && !methods && !pathPrefix && !header;
}

/** Schema and semantic problems of a ruleset; empty when it may be stored. */
export function rulesetProblems(raw: unknown, backends: Readonly<Record<string, BackendConfig>>): Problem[] {
  const schema = check('ruleset', raw);
  if (schema.length > 0) return schema;
  const rs = raw as Ruleset;
  const out: Problem[] = [];
  const speaks = (name: string, v: ApiVersion) => speaksIn(backends, name, v);
  const needBackend = (path: string, name: string, versions: ApiVersion[], receiver = 'this rule') => {
    if (!backends[name]) { out.push({ path, message: `unknown backend "${name}"` }); return; }
    for (const v of versions) {
      if (!speaks(name, v)) out.push({ path, message: `backend "${name}" does not speak ${v}, which ${receiver} can receive` });
    }
  };
  const captured = new Set<ApiVersion>();
  const names = new Set<string>();
  rs.rules.forEach((rule, i) => {
    const at = `/rules/${i}`;
    if (names.has(rule.name)) out.push({ path: `${at}/name`, message: `duplicate rule name "${rule.name}"` });
    names.add(rule.name);
    const versions = versionsOf(rule).filter((v) => !captured.has(v));
    if (rule.backend) needBackend(`${at}/backend`, rule.backend, versions);
    if (rule.split) {
      let total = 0;
      const seen = new Set<string>();
      rule.split.forEach((entry, j) => {
        needBackend(`${at}/split/${j}/backend`, entry.backend, versions);
        if (seen.has(entry.backend)) out.push({ path: `${at}/split/${j}/backend`, message: `backend "${entry.backend}" listed twice` });
        seen.add(entry.backend);
        if (Math.abs(Math.round(entry.weight * 100) - entry.weight * 100) > 1e-6) out.push({ path: `${at}/split/${j}/weight`, message: 'at most two decimals' });
        total += entry.weight;
      });
      // Compared on the weights as given, so that a weight with too many decimals is not also reported as a bad sum.
      if (Math.abs(total * 100 - BUCKETS) > 1e-6) out.push({ path: `${at}/split`, message: `weights must sum to 100, got ${Math.round(total * 1e6) / 1e6}` });
    }
    if (rule.failover) needBackend(`${at}/failover`, rule.failover, versions);
    if (capturesWholeVersion(rule)) for (const v of versions) captured.add(v);
  });
  needBackend('/default', rs.default, ALL_VERSIONS.filter((v) => !captured.has(v)), 'the default');
  return out;
}

type Matcher = (input: RouteInput) => boolean;

function compileMatch(match: Rule['match']): Matcher {
  const tests: Matcher[] = [];
  if (match.apiVersion) { const v = match.apiVersion; tests.push((i) => i.apiVersion === v); }
  if (match.merchants) { const set = new Set(match.merchants); tests.push((i) => set.has(i.merchant)); }
  if (match.methods) { const set = new Set(match.methods); tests.push((i) => set.has(i.method)); }
  if (match.pathPrefix) { const p = match.pathPrefix; tests.push((i) => i.path.startsWith(p)); }
  if (match.header) {
    const name = match.header.name.toLowerCase(); const want = match.header.equals;
    tests.push((i) => i.header(name) === want);
  }
  return (input) => tests.every((t) => t(input));
}

type Picker = (input: RouteInput) => RuleChoice;

function compilePick(rule: Rule): Picker {
  const reason = `rule:${rule.name}`;
  const base = { reason, rule: rule.name, failover: rule.failover };
  if (rule.backend) { const choice = { ...base, backend: rule.backend }; return () => choice; }
  const salt = rule.salt ?? rule.name;
  const ranges: { end: number; backend: string }[] = [];
  let end = 0;
  for (const entry of rule.split!) {
    end += Math.round(entry.weight * 100);
    if (entry.weight > 0) ranges.push({ end, backend: entry.backend });
  }
  const byOrder = rule.stickyBy === 'order';
  return (input) => {
    // A call without an order number (an unmodelled endpoint) falls back to the merchant as its key.
    const key = byOrder && input.orderId !== undefined ? input.orderId : input.merchant;
    const bucket = bucketOf(salt, key);
    const hit = ranges.find((r) => bucket < r.end)!;
    return { ...base, backend: hit.backend, bucket };
  };
}

/** Compiles a ruleset that has passed `rulesetProblems`; throws if it has not. */
export function compileRules(raw: unknown, version: number, backends: Readonly<Record<string, BackendConfig>>): CompiledRules {
  const problems = rulesetProblems(raw, backends);
  if (problems.length > 0) {
    throw new Error(`ruleset v${version} is invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
  const ruleset = structuredClone(raw) as Ruleset;
  const compiled = ruleset.rules.map((rule) => ({ matches: compileMatch(rule.match), pick: compilePick(rule) }));
  const fallback: RuleChoice = { backend: ruleset.default, reason: 'default' };
  return Object.freeze({
    version,
    ruleset: Object.freeze(ruleset),
    choose(input: RouteInput): RuleChoice {
      for (const r of compiled) if (r.matches(input)) return r.pick(input);
      return fallback;
    },
    firstMatch(input: RouteInput): string | undefined {
      for (let i = 0; i < compiled.length; i++) if (compiled[i].matches(input)) return ruleset.rules[i].name;
      return undefined;
    },
  });
}
