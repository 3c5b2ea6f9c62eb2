// In-memory payment book of one reference clearing backend. Version-neutral: amounts are integer
// minor units (fen) and the v1/v2 modules translate to and from their own wire shapes. On `next`
// both versions share one book, so a payment created through v1 can be read through v2.
import { randomBytes } from 'node:crypto';

export type BackendKind = 'legacy' | 'next';
export type ApiVersion = 'v1' | 'v2';

export interface Refund {
  id: string;
  /** v1 `out_request_no`; v2 refunds are deduplicated by Idempotency-Key instead. */
  requestNo?: string;
  amount: number;
  createdAt: string;
}

export interface Payment {
  id: string;
  merchant: string;
  /** `out_trade_no` (v1) or `merchantOrderId` (v2): one namespace per merchant. */
  orderNo: string;
  amount: number;
  currency: string;
  description: string;
  notifyUrl?: string;
  /** Closed (v1) / canceled (v2). Otherwise the payment is paid: it is marked paid at once. */
  closed: boolean;
  refunded: number;
  refunds: Refund[];
  createdAt: string;
  createdVia: ApiVersion;
}

export interface NewPayment {
  orderNo: string;
  amount: number;
  currency: string;
  description: string;
  notifyUrl?: string;
  via: ApiVersion;
}

/** A first answer kept for an Idempotency-Key, replayed to a retry of the same request. */
export interface StoredReply {
  fingerprint: string;
  status: number;
  body: unknown;
}

export type RefundOutcome =
  | { refund: Refund; replayed: boolean; payment: Payment }
  | { error: 'not_found' | 'payment_closed' | 'refund_exceeds_amount' };

/** HTTP status of each refund failure, the same in both API versions. */
export const REFUND_ERROR_STATUS = { not_found: 404, payment_closed: 409, refund_exceeds_amount: 400 } as const;

interface MerchantBook {
  byId: Map<string, Payment>;
  byOrder: Map<string, Payment>;
  replies: Map<string, StoredReply>;
}

/** Legacy ids carry the business date of the clearing system, which runs on China Standard Time (UTC+8). */
function businessDate(now: Date): string {
  return new Date(now.getTime() + 8 * 3_600_000).toISOString().slice(0, 10).replaceAll('-', '');
}

/** Payments of one backend, kept per merchant so that one merchant never sees another's payment. */
export class PaymentStore {
  readonly kind: BackendKind;
  #books = new Map<string, MerchantBook>();
  #sequence = 0;
  #count = 0;

  constructor(kind: BackendKind) {
    this.kind = kind;
  }

  /** Number of payments held, all merchants together. */
  get paymentCount(): number {
    return this.#count;
  }

  /** Creates a paid payment, or returns the merchant's existing payment for the same order number. */
  create(merchant: string, input: NewPayment): { payment: Payment; created: boolean } {
    const book = this.#book(merchant);
    const existing = book.byOrder.get(input.orderNo);
    if (existing) return { payment: existing, created: false };
    const payment: Payment = {
      id: this.#newId('pay_'),
      merchant,
      orderNo: input.orderNo,
      amount: input.amount,
      currency: input.currency,
      description: input.description,
      ...(input.notifyUrl === undefined ? {} : { notifyUrl: input.notifyUrl }),
      closed: false,
      refunded: 0,
      refunds: [],
      createdAt: new Date().toISOString(),
      createdVia: input.via,
    };
    book.byId.set(payment.id, payment);
    book.byOrder.set(payment.orderNo, payment);
    this.#count += 1;
    return { payment, created: true };
  }

  /** The merchant's payment with this transaction id, if this backend holds it. */
  find(merchant: string, id: string): Payment | undefined {
    return this.#books.get(merchant)?.byId.get(id);
  }

  /** The merchant's payment with this order number, if this backend holds it. */
  findByOrder(merchant: string, orderNo: string): Payment | undefined {
    return this.#books.get(merchant)?.byOrder.get(orderNo);
  }

  /**
   * Refunds part of a payment. A repeated `requestNo` answers the first refund without refunding
   * again (v1 `out_request_no` semantics); a closed payment or an amount above what is left fails.
   */
  refund(merchant: string, id: string, amount: number, requestNo?: string): RefundOutcome {
    const payment = this.find(merchant, id);
    if (!payment) return { error: 'not_found' };
    const earlier = requestNo === undefined ? undefined : payment.refunds.find((r) => r.requestNo === requestNo);
    if (earlier) return { refund: earlier, replayed: true, payment };
    if (payment.closed) return { error: 'payment_closed' };
    if (amount > payment.amount - payment.refunded) return { error: 'refund_exceeds_amount' };
    const refund: Refund = {
      id: this.#newId('re_'),
      ...(requestNo === undefined ? {} : { requestNo }),
      amount,
      createdAt: new Date().toISOString(),
    };
    payment.refunds.push(refund);
    payment.refunded += amount;
    return { refund, replayed: false, payment };
  }

  /** Closes (cancels) a payment; closing twice is harmless. Undefined when not held. */
  close(merchant: string, id: string): Payment | undefined {
    const payment = this.find(merchant, id);
    if (payment) payment.closed = true;
    return payment;
  }

  /**
   * Migration and tests only (issue 16): takes in a payment migrated from the
   * other system, under its own id and order number. False when this backend
   * already holds that id or order number for the merchant.
   */
  importPayment(payment: Payment): boolean {
    const book = this.#book(payment.merchant);
    if (book.byId.has(payment.id) || book.byOrder.has(payment.orderNo)) return false;
    const copy = structuredClone(payment);
    book.byId.set(copy.id, copy);
    book.byOrder.set(copy.orderNo, copy);
    this.#count += 1;
    return true;
  }

  /** The answer first given to this merchant's Idempotency-Key, if any. */
  recallReply(merchant: string, key: string): StoredReply | undefined {
    return this.#books.get(merchant)?.replies.get(key);
  }

  /** Keeps the answer given to an Idempotency-Key so that a retry replays it. */
  rememberReply(merchant: string, key: string, reply: StoredReply): void {
    this.#book(merchant).replies.set(key, reply);
  }

  #book(merchant: string): MerchantBook {
    let book = this.#books.get(merchant);
    if (!book) {
      book = { byId: new Map(), byOrder: new Map(), replies: new Map() };
      this.#books.set(merchant, book);
    }
    return book;
  }

  /** The id shape tells the systems apart: `legacy` issues 16 digits, `next` prefixed random ids. */
  #newId(prefix: 'pay_' | 're_'): string {
    if (this.kind === 'next') return prefix + randomBytes(12).toString('hex');
    this.#sequence += 1;
    return businessDate(new Date()) + String(this.#sequence).padStart(8, '0');
  }
}
