/** Structured JSON logs (pino). Bodies, tokens and card data are never logged. */
import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Fields that never reach a log line, wherever a caller put them by mistake. */
const SECRET_FIELDS = ['authorization', 'token', 'body', 'cookie', 'headers'];

/**
 * Drops secret fields from a logged object (top level and one level down),
 * copying only when there is something to drop. pino's path redaction clones
 * every logged object, which cost more than the rest of a request's logging.
 */
function withoutSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const key in obj) {
    const value = obj[key];
    if (SECRET_FIELDS.includes(key.toLowerCase())) {
      if (out === obj) out = { ...obj };
      delete out[key];
    } else if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Error)) {
      const inner = withoutSecrets(value as Record<string, unknown>);
      if (inner !== value) { if (out === obj) out = { ...obj }; out[key] = inner; }
    }
  }
  return out;
}

let lastMs = 0;
let lastTime = '';

/** pino's ISO time, formatted once per millisecond rather than once per line. */
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) { lastMs = now; lastTime = `,"time":"${new Date(now).toISOString()}"`; }
  return lastTime;
}

/**
 * The gateway's logger: one JSON object per line, on stdout unless a
 * `destination` is given (tests read the lines back from a stream). Request
 * lines carry ids, routing and timing only, never headers or bodies; dropping
 * secret fields is a second line of defence for objects logged by mistake.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'cutover' },
    timestamp: isoTime,
    formatters: { log: withoutSecrets },
  };
  return pino(options, destination ?? batchedDestination(1));
}

/** The access log's fields: ids, routing and timing, all set by the gateway itself (nothing a caller sent unchecked). */
export interface RequestLine {
  requestId: string; merchant?: string; method?: string; path?: string; apiVersion?: string; endpoint?: string;
  backend?: string; reason?: string; status: number; durationMs: number;
}

/** A logger's bindings as JSON members (`"service":"cutover"`), computed once per logger. */
const bindingsOf = new WeakMap<Logger, string>();

/**
 * Writes the access log line of one request at info: the same JSON line
 * `log.info(fields, 'request')` writes, built with one JSON.stringify of a
 * flat object of known fields. pino's general path walks and escapes every
 * field itself and runs the secret filter, several times the cost, for a
 * line written on every request (bench/log-cost.ts, issue 15).
 */
export function logRequest(log: Logger, fields: RequestLine): void {
  if (!log.isLevelEnabled('info')) return;
  let bindings = bindingsOf.get(log);
  if (bindings === undefined) {
    bindings = JSON.stringify(log.bindings()).slice(1, -1);
    bindingsOf.set(log, bindings);
  }
  const stream = (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
  stream.write(`{"level":${log.levels.values.info}${isoTime()}${bindings && `,${bindings}`},${JSON.stringify(fields).slice(1, -1)},"msg":"request"}\n`);
}

/** Characters of lines gathered before they go to the destination in one write. */
const BATCH_CHARS = 16_000;

/**
 * A file descriptor (stdout for the gateway), written asynchronously by sonic-boom, in batches of about 16 KB
 * gathered here: sonic-boom measures and appends to its pending text on
 * every write, which cost about 2 µs per line (bench/log-cost.ts), where
 * joining the lines of a batch once costs a tenth of that. Flushed at least
 * every 250 ms, so that a quiet instance's lines still go out promptly, and
 * on exit; main flushes on a signal.
 */
export function batchedDestination(fd: number): DestinationStream {
  const dest = pino.destination({ dest: fd, sync: false });
  let lines: string[] = [];
  let chars = 0;
  const drain = () => {
    if (lines.length === 0) return;
    const chunk = lines.join('');
    lines = [];
    chars = 0;
    dest.write(chunk);
  };
  const batched = {
    write(line: string): boolean {
      lines.push(line);
      chars += line.length;
      if (chars >= BATCH_CHARS) drain();
      return true;
    },
    flush(cb?: (err?: Error) => void): void {
      drain();
      try { dest.flush(cb); } catch (err) { cb?.(err as Error); }
    },
  };
  setInterval(drain, 250).unref();
  // On exit nothing asynchronous completes: what sonic-boom holds, then what is gathered here, written synchronously.
  atExit(() => {
    try {
      dest.flushSync();
      if (lines.length > 0) writeSync(fd, lines.join(''));
    } catch { /* the descriptor is already gone */ }
  });
  return batched as unknown as DestinationStream;
}

const exitDrains: (() => void)[] = [];

/** Runs `fn` on process exit; one listener for every logger of the process. */
function atExit(fn: () => void): void {
  if (exitDrains.length === 0) process.once('exit', () => { for (const d of exitDrains) d(); });
  exitDrains.push(fn);
}
