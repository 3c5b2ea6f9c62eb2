/**
 * What the per-request log line costs: the gateway's own logger (gateway/log.ts)
 * writing the record stage's line, batched to /dev/null, against the same
 * call at a level that drops it. CPU time per line in the calling thread,
 * which is what a request waits for; the write itself is batched and asynchronous.
 */
import { openSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';
import { pino } from 'pino';
import { batchedDestination, createLogger, logRequest, type Logger } from '../gateway/log.ts';
import { median } from './stats.ts';

export interface LogCost {
  lines: number; rounds: number;
  /** The record stage's line (logRequest) through the gateway's batched stdout writer, here to /dev/null. */
  nsPerLine: number;
  /** The same call with the level at warn: the line is dropped. */
  nsPerLineOff: number;
  /** The same fields through pino's general path (`log.info(fields, 'request')`) straight into sonic-boom: what the line cost before issue 15. */
  nsPerLinePinoPath: number;
}

/** A line as the record stage writes it for a pinned refund. */
function requestLine(log: Logger, i: number): void {
  logRequest(log, {
    requestId: `8f1c2a4e-1b2c-4d5e-9f00-${i}`, merchant: 'M-0042', method: 'POST', path: '/api/v1/payments/pay_abc123/refund', apiVersion: 'v1', endpoint: 'refund',
    backend: 'legacy', reason: 'pinned', status: 200, durationMs: 1.7,
  });
}

function pinoPath(log: Logger, i: number): void {
  log.info({
    requestId: `8f1c2a4e-1b2c-4d5e-9f00-${i}`, merchant: 'M-0042', method: 'POST', path: '/api/v1/payments/pay_abc123/refund', apiVersion: 'v1', endpoint: 'refund',
    backend: 'legacy', reason: 'pinned', status: 200, durationMs: 1.7,
  }, 'request');
}

/** Lines per turn of the event loop, so that the batched writes go out as they would between requests. */
const BURST = 500;

/** Median over `rounds` of the nanoseconds per line (see LogCost). */
export async function measureLogCost(o: { lines?: number; rounds?: number } = {}): Promise<LogCost> {
  const lines = o.lines ?? 200_000;
  const rounds = o.rounds ?? 5;
  const fd = openSync('/dev/null', 'w');
  const batched = batchedDestination(fd);
  const sonic = pino.destination({ dest: fd, sync: false, minLength: 16000 });
  const time = async (log: Logger, line: (log: Logger, i: number) => void) => {
    const per: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let spent = 0;
      for (let i = 0; i < lines; i += BURST) {
        const t = performance.now();
        for (let j = i; j < i + BURST; j++) line(log, j);
        spent += performance.now() - t;
        await turn();
      }
      per.push((spent * 1e6) / lines);
    }
    return Math.round(median(per));
  };
  const info = createLogger('info', batched);
  await time(info, requestLine);
  const result = {
    lines, rounds,
    nsPerLine: await time(info, requestLine),
    nsPerLineOff: await time(createLogger('warn', batched), requestLine),
    nsPerLinePinoPath: await time(createLogger('info', sonic), pinoPath),
  };
  await new Promise((r) => info.flush(r));
  sonic.flushSync();
  return result;
}

if (import.meta.main) process.stdout.write(`${JSON.stringify(await measureLogCost())}\n`);
