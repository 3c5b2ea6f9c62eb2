/**
 * Merchant requests in flight on this instance, by generation, so that a
 * cache fence (pin-fence.ts) is acknowledged only once every request that
 * began before it has ended: a follow-up decided on a pin read before a
 * hand-over froze it has reached its backend before the job reads the
 * transaction there (docs/handover.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export class InFlight {
  #generation = 0;
  readonly #open = new Map<number, number>();

  /** Wraps the data port's handler: each request counts in the generation it began in until its answer closes. */
  track(handle: Handler): Handler {
    return (req: IncomingMessage, res: ServerResponse) => {
      const g = this.#generation;
      this.#open.set(g, (this.#open.get(g) ?? 0) + 1);
      res.once('close', () => {
        const n = this.#open.get(g)! - 1;
        if (n === 0) this.#open.delete(g); else this.#open.set(g, n);
      });
      return handle(req, res);
    };
  }

  /** Resolves once every request that began before this call has ended; false after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<boolean> {
    const before = this.#generation++;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let open = false;
      for (const g of this.#open.keys()) if (g <= before) { open = true; break; }
      if (!open) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}
