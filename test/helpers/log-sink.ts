/** Keeping what a gateway's logger writes, for tests that read its log lines. */
import { Writable } from 'node:stream';

/** A stream for `createLogger` (or `logTo` of `startGateway`/`useStack`) and the lines written to it. */
export interface LogSink {
  stream: Writable;
  /** Every line written so far, as text. */
  lines: string[];
  /** Every line written so far, parsed. */
  records(): Array<Record<string, unknown>>;
}

export function logSink(): LogSink {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); done(); },
  });
  return { stream, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
