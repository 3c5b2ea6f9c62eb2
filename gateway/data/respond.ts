/**
 * The answer side of a create or a query by order number: the backend's
 * answer was buffered so that the transaction id it names is pinned before
 * the merchant can follow it up.
 */
import type { ServerResponse } from 'node:http';
import type { Identified } from './identify.ts';
import type { Logger } from '../log.ts';
import { pinKey, type PinService } from '../pins.ts';
import { answerHead, type UpstreamAnswer } from './proxy.ts';

/** Pins the transaction id a successful create returned (v1 `trade_no`, v2 `id`). */
export async function pinTransaction(pins: PinService, t: Identified, answer: UpstreamAnswer, backend: string, log: Logger, requestId: string): Promise<void> {
  if (answer.status < 200 || answer.status >= 300 || !answer.body) return;
  let id: unknown;
  try {
    const json = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
    id = t.apiVersion === 'v1' ? json.trade_no : json.id;
  } catch {
    return;
  }
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) return;
  try {
    const pin = await pins.claim(pinKey.transaction(id), backend);
    if (pin.backend !== backend) log.error({ requestId, transactionId: id, backend, pinned: pin.backend }, 'transaction id already pinned to another backend');
  } catch (err) {
    // The payment exists on `backend`; the merchant must get its answer. This instance
    // remembers the pin; others fail closed (503) until the retries below store it.
    pins.remember(pinKey.transaction(id), backend);
    log.error({ requestId, transactionId: id, backend, err: (err as Error).message }, 'could not pin transaction id; retrying');
    void retryPin(pins, id, backend, log, requestId);
  }
}

/** Retries a transaction pin with backoff (about two minutes in all), then gives up loudly. */
async function retryPin(pins: PinService, id: string, backend: string, log: Logger, requestId: string, attempt = 1): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt)).unref());
  try {
    const pin = await pins.claim(pinKey.transaction(id), backend, { store: true });
    if (pin.backend !== backend) log.error({ requestId, transactionId: id, backend, pinned: pin.backend }, 'transaction id already pinned to another backend');
    else log.info({ requestId, transactionId: id, backend, attempt }, 'transaction id pinned after retry');
  } catch (err) {
    if (attempt < 10) return retryPin(pins, id, backend, log, requestId, attempt + 1);
    log.error({ requestId, transactionId: id, backend, err: (err as Error).message }, 'transaction id could not be pinned; follow-ups by this id will be refused or routed by its shape');
  }
}

/** Writes a buffered backend answer to the merchant, with the gateway's own headers (`head`). */
export function writeBuffered(res: ServerResponse, answer: UpstreamAnswer, head: readonly string[]): void {
  const headers = answerHead(answer.headers ?? {}, head, true);
  headers.push('content-length', String(answer.body?.length ?? 0));
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}
