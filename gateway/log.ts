/** Structured JSON logs (pino). Bodies, tokens and card data are never logged. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * The gateway's logger: one JSON object per line, on stdout unless a
 * `destination` is given (tests read the lines back from a stream). Request
 * lines carry ids, routing and timing only, never headers or bodies; the
 * redaction is a second line of defence for objects logged by mistake.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'cutover' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['authorization', 'headers.authorization', 'req.headers.authorization', 'token', '*.token', 'body', '*.body', 'headers.cookie'],
      remove: true,
    },
  };
  return pino(options, destination ?? batchedStdout());
}

/**
 * stdout in 4 KiB batches written asynchronously (one write per line costs
 * more than the rest of a request's logging), flushed at least every 250 ms
 * so that a quiet instance's lines still go out promptly. main flushes on exit.
 */
function batchedStdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    try { dest.flush(); } catch { /* nothing pending, or already flushing */ }
  }, 250).unref();
  return dest;
}
