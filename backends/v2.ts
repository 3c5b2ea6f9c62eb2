// v2 of the merchant API (SPEC §3): camelCase, integer minor units, `Idempotency-Key` required on
// every POST. Spoken only by `next`. Validation is minimal: the gateway validates first.
import { dispatchPayments, emptyOrJsonObject, fail, parseJsonObject, type ApiRequest, type Reply } from './http.ts';
import { REFUND_ERROR_STATUS, type Payment, type PaymentStore } from './store.ts';

const ORDER_NUMBER = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_MINOR_UNITS = 1_000_000_000_000;

interface Money {
  value: number;
  currency: string;
}

function money(value: unknown): Money | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { value: units, currency } = value as Record<string, unknown>;
  if (typeof units !== 'number' || !Number.isSafeInteger(units) || units < 1 || units > MAX_MINOR_UNITS) return undefined;
  if (typeof currency !== 'string' || currency === '') return undefined;
  return { value: units, currency };
}

function view(payment: Payment): Record<string, unknown> {
  const currency = payment.currency;
  return {
    id: payment.id,
    merchantOrderId: payment.orderNo,
    amount: { value: payment.amount, currency },
    description: payment.description,
    ...(payment.notifyUrl === undefined ? {} : { notifyUrl: payment.notifyUrl }),
    status: payment.closed ? 'canceled' : 'succeeded',
    amountRefunded: { value: payment.refunded, currency },
    refunds: payment.refunds.map((r) => ({ id: r.id, amount: { value: r.amount, currency }, status: 'succeeded', createdAt: r.createdAt })),
    createdAt: payment.createdAt,
  };
}

/** A payment found by id or order number, in this version's view; 404 when there is none. */
function found(payment: Payment | undefined): Reply {
  return payment ? { status: 200, body: view(payment) } : fail(404, 'not_found');
}

function invalid(field: string): Reply {
  return fail(400, 'invalid_request', `${field} is missing or invalid`);
}

/** Same request = same method, path and JSON content (key order and spacing do not matter). */
function fingerprint(req: ApiRequest): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(canonical)
    : typeof value === 'object' && value !== null
      ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]))
      : value;
  const parsed = parseJsonObject(req.body);
  return `${req.method} ${req.segments.join('/')} ${parsed ? JSON.stringify(canonical(parsed)) : req.body.trim()}`;
}

/**
 * Runs a POST once per Idempotency-Key (scoped to the merchant): a retry of the same request
 * replays the first successful answer; the key reused for a different request is refused (422).
 * Failures are not kept, so a retry after one gets a fresh attempt.
 */
function once(store: PaymentStore, req: ApiRequest, run: () => Reply): Reply {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.trim() === '') return fail(400, 'missing_idempotency_key');
  const print = fingerprint(req);
  const first = store.recallReply(req.merchant, key);
  if (first) {
    if (first.fingerprint !== print) return fail(422, 'idempotency_key_reused');
    return { status: first.status, body: first.body, headers: { 'idempotent-replayed': 'true' } };
  }
  const reply = run();
  if (reply.status < 300) store.rememberReply(req.merchant, key, { fingerprint: print, status: reply.status, body: reply.body });
  return reply;
}

function create(store: PaymentStore, req: ApiRequest): Reply {
  const body = parseJsonObject(req.body);
  if (!body) return fail(400, 'invalid_json');
  const { merchantOrderId, description, notifyUrl } = body;
  if (typeof merchantOrderId !== 'string' || !ORDER_NUMBER.test(merchantOrderId)) return invalid('merchantOrderId');
  const amount = money(body.amount);
  if (!amount) return invalid('amount');
  if (typeof description !== 'string' || description === '') return invalid('description');
  if (notifyUrl !== undefined && typeof notifyUrl !== 'string') return invalid('notifyUrl');
  // Reaching here means the Idempotency-Key is new: an order number already used is a conflict.
  if (store.findByOrder(req.merchant, merchantOrderId)) return fail(409, 'duplicate_order');
  const { payment } = store.create(req.merchant, {
    orderNo: merchantOrderId,
    amount: amount.value,
    currency: amount.currency,
    description,
    ...(notifyUrl === undefined ? {} : { notifyUrl }),
    via: 'v2',
  });
  // The create answers "pending"; the payment is paid at once, so a following GET shows "succeeded".
  return { status: 201, body: { id: payment.id, merchantOrderId, amount: view(payment).amount, status: 'pending' } };
}

function refund(store: PaymentStore, req: ApiRequest, id: string): Reply {
  const body = parseJsonObject(req.body);
  if (!body) return fail(400, 'invalid_json');
  const amount = money(body.amount);
  if (!amount) return invalid('amount');
  const payment = store.find(req.merchant, id);
  if (payment && payment.currency !== amount.currency) return fail(400, 'currency_mismatch');
  const outcome = store.refund(req.merchant, id, amount.value);
  if ('error' in outcome) return fail(REFUND_ERROR_STATUS[outcome.error], outcome.error);
  return { status: 201, body: { id: outcome.refund.id, paymentId: id, amount, status: 'succeeded' } };
}

function cancel(store: PaymentStore, req: ApiRequest, id: string): Reply {
  if (!emptyOrJsonObject(req.body)) return fail(400, 'invalid_json');
  const payment = store.close(req.merchant, id);
  return payment ? { status: 200, body: { id: payment.id, status: 'canceled' } } : fail(404, 'not_found');
}

/** Answers a v2 call under `/api/v2/payments`; every POST is answered once per Idempotency-Key. */
export function handleV2Payments(store: PaymentStore, req: ApiRequest): Reply {
  return dispatchPayments(req, {
    create: () => once(store, req, () => create(store, req)),
    query: () => {
      const orderNo = req.query.get('merchantOrderId');
      if (orderNo === null || orderNo === '') return invalid('merchantOrderId');
      return found(store.findByOrder(req.merchant, orderNo));
    },
    get: (id) => found(store.find(req.merchant, id)),
    actions: {
      refunds: (id) => once(store, req, () => refund(store, req, id)),
      cancel: (id) => once(store, req, () => cancel(store, req, id)),
    },
  });
}
