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
  // Lines are written asynchronously: while one write is in flight the next
  // lines gather and go out together, so under load it is one write for many
  // lines, and at rest each line still goes out at once. main flushes on exit.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
