/**
 * Merchants reading streamed answers, and waiting on a condition: for the
 * tests of a full upstream pool and of readers that stop reading.
 */
import http from 'node:http';
import { startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './stack.ts';

/** A merchant that starts a streamed GET and reads nothing once the head is in. */
export interface PausedReader {
  status: number;
  /**
   * Reads everything the gateway sends (or until it cuts the answer); resolves with what came
   * and how it ended. `pauseMs`: stop for that long after every 256 KiB (a slow reader).
   */
  drain(pauseMs?: number): Promise<{ bytes: number; complete: boolean }>;
  destroy(): void;
}

/** Opens a streamed GET on its own connection and stops reading as soon as the head arrives. */
export function pausedReader(gatewayUrl: string, path: string, merchant: string): Promise<PausedReader> {
  const { port } = new URL(gatewayUrl);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { 'x-merchant-id': merchant } }, (res) => {
      res.pause();
      resolve({
        status: res.statusCode!,
        drain: (pauseMs = 0) => new Promise((done) => {
          let bytes = 0;
          let nextPause = 256 * 1024;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            if (pauseMs === 0 || bytes < nextPause) return;
            nextPause += 256 * 1024;
            res.pause();
            setTimeout(() => res.resume(), pauseMs);
          });
          res.once('end', () => done({ bytes, complete: res.complete }));
          res.once('error', () => done({ bytes, complete: false }));
          res.once('aborted', () => done({ bytes, complete: false }));
          res.resume();
        }),
        destroy: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

/** Resolves once `cond` holds, polling; rejects after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reference backends and one gateway whose `legacy` backend has `legacy` settings on top of the test ones. */
export async function startWithLegacy(legacy: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<{ backends: Backends; gw: RunningGateway; close(): Promise<void> }> {
  const backends = await startBackends();
  const raw = testConfig(backends.urls, overrides);
  const cfg = raw.backends as Record<string, Record<string, unknown>>;
  const gw = await startGateway({ ...raw, backends: { ...cfg, legacy: { ...cfg.legacy, ...legacy } } });
  return { backends, gw, async close() { await gw.close(); await backends.close(); } };
}
