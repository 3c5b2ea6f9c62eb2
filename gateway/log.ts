/** Structured JSON logs (pino). Bodies, tokens and card data are never logged. */
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
  return pino(options, destination ?? batchedStdout());
}

/**
 * stdout in batches of about 16 KB (just under sonic-boom's largest single
 * write), written asynchronously: a write per line costs more than the rest
 * of a request's logging, and 4 KB batches cost about 4 µs per request more
 * at peak. Flushed at least every 250 ms, so that a quiet instance's lines
 * still go out promptly; main flushes on exit.
 */
function batchedStdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 16000 });
  setInterval(() => {
    try { dest.flush(); } catch { /* nothing pending, or already flushing */ }
  }, 250).unref();
  return dest;
}
