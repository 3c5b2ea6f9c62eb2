/**
 * Configuration: a YAML or JSON file plus environment overrides, validated
 * once with the `config` schema (which holds every default), then frozen.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { check } from './schemas.ts';
import { address } from './redis-address.ts';

export type ApiVersion = 'v1' | 'v2';

export interface BreakerConfig {
  errorThresholdPercentage: number; volumeThreshold: number;
  rollingCountTimeoutMs: number; resetTimeoutMs: number;
}
export interface BackendConfig {
  url: string; apiVersions: ApiVersion[]; timeoutMs: number;
  maxSockets: number; keepAliveIdleMs: number; breaker: BreakerConfig;
  /** Longest wait for a free connection in a full pool before 503 backend_busy. */
  queueTimeoutMs: number;
}
/** True when the backend `name` is configured and speaks API version `v`. */
export function speaks(backends: Readonly<Record<string, BackendConfig>>, name: string, v: ApiVersion): boolean {
  return backends[name]?.apiVersions.includes(v) ?? false;
}

/** How long a pin lives, in milliseconds (`pins.ttlDays`). */
export function pinTtlMs(config: Readonly<Config>): number {
  return config.pins.ttlDays * 86_400_000;
}

export interface AdminToken { name: string; token: string; readOnly: boolean }
export interface Config {
  listen: { port: number; adminPort: number; host: string };
  /** At most one of url, cluster and sentinel; none: the embedded store. */
  redis: {
    url?: string; cluster?: string[]; sentinel?: { name: string; sentinels: string[] };
    commandTimeoutMs: number; waitReplicas: number; keyPrefix: string; refreshSeconds: number; pinBuckets: number;
  };
  backends: Record<string, BackendConfig>;
  pins: { ttlDays: number; cacheSize: number; unpinned: { idPattern?: string; backend: string }[] };
  merchantHeader: string;
  /** Absolute path of the initial ruleset file, when configured. */
  rules?: string;
  decisionHeaders: boolean;
  /** Endpoints the gateway does not model (outside /api/vN/payments): the methods that may be proxied. */
  unmodelled: { methods: string[] };
  limits: {
    bodyBytes: number; headerBytes: number; headersTimeoutMs: number;
    requestTimeoutMs: number; keepAliveTimeoutMs: number; drainTimeoutMs: number;
    /** A merchant reading nothing of a streamed answer this long is cut off. */
    responseIdleMs: number;
  };
  /** Hand-over jobs: their default rate, transactions per second. */
  handover: { ratePerSecond: number };
  admin: { tokens: AdminToken[] };
  logLevel: string;
}

/** A configuration problem; the message names the offending field. */
export class ConfigError extends Error {}

/** Parses a YAML or JSON text (JSON is YAML, but give JSON files a JSON parser's messages). */
function parseText(text: string, path: string): unknown {
  try {
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path}: cannot parse: ${(err as Error).message}`);
  }
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new ConfigError(`${name}: must be a port number (0-65535), got "${raw}"`);
  return Number(raw);
}

/** Applies the environment overrides of SPEC section 2 to a raw (unvalidated) config object. */
function applyEnv(raw: Record<string, any>, env: NodeJS.ProcessEnv): void {
  const port = envInt(env, 'PORT');
  const adminPort = envInt(env, 'ADMIN_PORT');
  if (port !== undefined || adminPort !== undefined) {
    raw.listen = { ...raw.listen };
    if (port !== undefined) raw.listen.port = port;
    if (adminPort !== undefined) raw.listen.adminPort = adminPort;
  }
  if (env.REDIS_URL) {
    // REDIS_URL names the one server to use, in place of whatever the file names.
    const { cluster: _c, sentinel: _s, ...rest } = raw.redis ?? {};
    raw.redis = { ...rest, url: env.REDIS_URL };
  }
  if (env.LOG_LEVEL) raw.logLevel = env.LOG_LEVEL;
  if (env.CUTOVER_ADMIN_TOKEN) {
    if (env.CUTOVER_ADMIN_TOKEN.length < 16) throw new ConfigError('CUTOVER_ADMIN_TOKEN: must be at least 16 characters');
    const tokens = [...(raw.admin?.tokens ?? [])];
    tokens.push({ name: 'env', token: env.CUTOVER_ADMIN_TOKEN });
    raw.admin = { ...raw.admin, tokens };
  }
}

/** How the store is reached: one way at most, URLs the client can use, options that apply to it. */
function redisProblems(r: Config['redis']): string[] {
  const out: string[] = [];
  const ways = (['url', 'cluster', 'sentinel'] as const).filter((k) => r[k] !== undefined);
  if (ways.length > 1) out.push(`redis: give only one of url, cluster and sentinel, not ${ways.join(' and ')}`);
  if (ways.length === 0 && r.waitReplicas > 0) out.push('redis.waitReplicas: needs a Redis (url, cluster or sentinel); the embedded store has no replicas');
  if (r.cluster && r.waitReplicas > 0) out.push('redis.waitReplicas: not supported on a Redis Cluster (use 0, or Sentinel)');
  const lists: [string, string[]][] = [
    ...(r.url ? [['redis.url', [r.url]] as [string, string[]]] : []),
    ...(r.cluster ? [['redis.cluster', r.cluster] as [string, string[]]] : []),
    ...(r.sentinel ? [['redis.sentinel.sentinels', r.sentinel.sentinels] as [string, string[]]] : []),
  ];
  for (const [field, urls] of lists) {
    let first: ReturnType<typeof address> | undefined;
    urls.forEach((url, i) => {
      const at = field === 'redis.url' ? field : `${field}[${i}]`;
      let a: ReturnType<typeof address>;
      try { a = address(url); } catch (err) { out.push(`${at}: not a usable URL (${(err as Error).message})`); return; }
      if (!(a.port >= 1 && a.port <= 65535)) out.push(`${at}: port out of range`);
      // A database number means nothing on a Cluster and is not passed on through Sentinel.
      if (field !== 'redis.url' && a.path !== '' && a.path !== '/' && a.path !== '/0') out.push(`${at}: no database number here (a Cluster has only database 0)`);
      if (first && (a.username !== first.username || a.password !== first.password || a.tls !== first.tls)) {
        out.push(`${at}: every URL of the list must carry the same credentials and scheme as the first`);
      }
      first ??= a;
    });
  }
  return out;
}

/** Checks what the schema cannot express: references between fields, regexes that compile. */
function semanticProblems(cfg: Config): string[] {
  const out: string[] = [];
  const names = new Set(Object.keys(cfg.backends));
  out.push(...redisProblems(cfg.redis));
  cfg.pins.unpinned.forEach((entry, i) => {
    if (!names.has(entry.backend)) out.push(`pins.unpinned[${i}].backend: unknown backend "${entry.backend}"`);
    const last = i === cfg.pins.unpinned.length - 1;
    if (last && entry.idPattern !== undefined) out.push(`pins.unpinned[${i}].idPattern: the last entry is the catch-all and takes no idPattern`);
    if (!last && entry.idPattern === undefined) out.push(`pins.unpinned[${i}].idPattern: required on every entry but the last`);
    if (entry.idPattern !== undefined) {
      try { new RegExp(entry.idPattern); } catch { out.push(`pins.unpinned[${i}].idPattern: not a valid regular expression`); }
    }
  });
  const tokenNames = new Set<string>();
  cfg.admin.tokens.forEach((t, i) => {
    if (tokenNames.has(t.name)) out.push(`admin.tokens[${i}].name: duplicate token name "${t.name}"`);
    tokenNames.add(t.name);
  });
  if (cfg.listen.port !== 0 && cfg.listen.port === cfg.listen.adminPort) out.push('listen.adminPort: must differ from listen.port');
  return out;
}

/** A JSON pointer as the field name a reader looks for: "/pins/unpinned/0/backend" → "pins.unpinned[0].backend". */
function fieldName(pointer: string): string {
  const segments = pointer.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  let out = '';
  for (const s of segments) out += /^\d+$/.test(s) ? `[${s}]` : out === '' ? s : `.${s}`;
  return out || '(root)';
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates a raw config object (defaults filled in by the schema) and
 * freezes it. `baseDir` resolves a relative `rules` path.
 */
export function buildConfig(raw: unknown, opts: { env?: NodeJS.ProcessEnv; baseDir?: string; source?: string } = {}): Readonly<Config> {
  const source = opts.source ?? 'config';
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: must be an object`);
  const copy = structuredClone(raw) as Record<string, any>;
  applyEnv(copy, opts.env ?? {});
  const problems = check('config', copy);
  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${fieldName(p.path)}: ${p.message}`);
    throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
  }
  const cfg = copy as Config;
  const semantic = semanticProblems(cfg);
  if (semantic.length > 0) throw new ConfigError(`${source} is invalid:\n${semantic.map((l) => `  ${l}`).join('\n')}`);
  if (cfg.rules !== undefined) cfg.rules = resolve(opts.baseDir ?? process.cwd(), cfg.rules);
  return deepFreeze(cfg);
}

/** Reads the file named by `CUTOVER_CONFIG` (or `path`), applies the environment and validates. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, path = env.CUTOVER_CONFIG): Readonly<Config> {
  if (!path) throw new ConfigError('CUTOVER_CONFIG: not set (path of the YAML or JSON config file)');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`CUTOVER_CONFIG: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  return buildConfig(parseText(text, path), { env, baseDir: dirname(resolve(path)), source: path });
}

/** Reads a ruleset file (YAML or JSON); validation is the rules compiler's job. */
export function readRulesFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`rules: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  return parseText(text, path);
}
