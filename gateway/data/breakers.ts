/**
 * One opossum circuit breaker per backend. Only backend faults count: a 5xx
 * answer, a timeout, a refused or broken connection. A merchant's 4xx, a
 * client that hangs up and a full connection pool do not. An open breaker answers 503 with Retry-After.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import CircuitBreaker from 'opossum';
import { GatewayError } from '../errors.ts';
import type { BackendProxy, SendOptions, UpstreamAnswer } from './proxy.ts';
import { retryableFailure } from './upstream-errors.ts';
import type { BreakerState } from '../metrics.ts';

/** A 5xx answer: counted as a failure, yet already (or about to be) the merchant's answer. */
class BackendFault extends Error {
  readonly answer: UpstreamAnswer;
  constructor(answer: UpstreamAnswer) { super(`backend answered ${answer.status}`); this.answer = answer; }
}

export interface GuardedSend extends SendOptions {
  /** An idempotent GET without a body may be retried once, on the same backend, when the connection failed. */
  retryable: boolean;
}

/** What the breaker's action gets: the send options, and where a streamed head is handed over early. */
interface Fired extends GuardedSend { onStreaming?(answer: UpstreamAnswer): void }

export class GuardedBackend {
  readonly proxy: BackendProxy;
  readonly breaker: CircuitBreaker<[IncomingMessage, ServerResponse, Fired], UpstreamAnswer>;
  readonly #retryAfter: string;

  constructor(proxy: BackendProxy, onState: (backend: string, state: BreakerState) => void) {
    this.proxy = proxy;
    const b = proxy.config.breaker;
    this.#retryAfter = String(Math.max(1, Math.ceil(b.resetTimeoutMs / 1000)));
    this.breaker = new CircuitBreaker(
      async (req: IncomingMessage, res: ServerResponse, opts: Fired) => {
        let answer: UpstreamAnswer;
        try {
          answer = await proxy.send(req, res, opts);
        } catch (err) {
          const once = opts.retryable && (opts.body?.length ?? 0) === 0 && err instanceof GatewayError && retryableFailure(err);
          if (!once || res.headersSent || res.destroyed) throw err;
          answer = await proxy.send(req, res, opts);
        }
        if (answer.status >= 500) throw new BackendFault(answer);
        if (answer.streamEnd !== undefined) {
          // The merchant has the head; the breaker judges the exchange once its body is over
          // (a backend that stalls or breaks mid-body is a fault).
          opts.onStreaming?.(answer);
          await answer.streamEnd;
        }
        return answer;
      },
      {
        name: proxy.name,
        timeout: false, // the proxy's own timer answers 504; opossum must not race it
        errorThresholdPercentage: b.errorThresholdPercentage,
        volumeThreshold: b.volumeThreshold,
        rollingCountTimeout: b.rollingCountTimeoutMs,
        resetTimeout: b.resetTimeoutMs,
        rollingPercentilesEnabled: false,
        // Not backend faults: a merchant who hung up, and a wait for a free connection of a full
        // pool (the backend never saw that request; its slowness already counts on its own requests).
        errorFilter: (err: unknown) => err instanceof GatewayError && (err.code === 'client_closed_request' || err.code === 'backend_busy'),
      },
    );
    this.breaker.on('open', () => onState(proxy.name, 'open'));
    this.breaker.on('halfOpen', () => onState(proxy.name, 'half_open'));
    this.breaker.on('close', () => onState(proxy.name, 'closed'));
  }

  get isOpen(): boolean {
    return this.breaker.opened;
  }

  /**
   * Forwards through the breaker; a 5xx comes back as an answer, an open breaker as 503.
   * A streamed answer comes back once its head is out, while the breaker waits for its end.
   */
  async send(req: IncomingMessage, res: ServerResponse, opts: GuardedSend): Promise<UpstreamAnswer> {
    let streaming: (answer: UpstreamAnswer) => void = () => {};
    const headOut = new Promise<UpstreamAnswer>((resolve) => { streaming = resolve; });
    const fired = this.breaker.fire(req, res, { ...opts, onStreaming: streaming });
    // A body fault after the head is the breaker's to count; the merchant's connection is already cut.
    fired.catch(() => {});
    try {
      return await Promise.race([fired, headOut]);
    } catch (err) {
      if (err instanceof BackendFault) return err.answer;
      if ((err as NodeJS.ErrnoException).code === 'EOPENBREAKER') {
        throw new GatewayError('backend_unavailable', {
          message: `Backend "${this.proxy.name}" is unavailable (circuit open)`, cause: err, headers: { 'retry-after': this.#retryAfter },
        });
      }
      throw err;
    }
  }

  shutdown(): void {
    this.breaker.shutdown();
    this.proxy.close();
  }
}
