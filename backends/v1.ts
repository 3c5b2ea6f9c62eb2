// v1 of the merchant API (SPEC §3): snake_case, amounts as decimal strings in yuan, merchant order
// number `out_trade_no`. Validation is minimal on purpose: the gateway validates against the
// schemas in schemas/ before forwarding; a backend only refuses what it cannot process.
import { dispatchPayments, emptyOrJsonObject, fail, parseJsonObject, type ApiRequest, type Reply } from './http.ts';
import { REFUND_ERROR_STATUS, type Payment, type PaymentStore } from './store.ts';

const ORDER_NUMBER = /^[A-Za-z0-9_-]{1,64}$/;
const YUAN = /^(0|[1-9][0-9]{0,9})(?:\.([0-9]{1,2}))?$/;

/** "12.3" → 1230 fen; undefined for anything that is not a positive v1 amount. */
export function yuanToFen(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = YUAN.exec(text);
  if (!match) return undefined;
  const fen = Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
  return fen > 0 ? fen : undefined;
}

/** 1230 fen → "12.30": v1 answers amounts with two decimals, as the legacy system does. */
export function fenToYuan(fen: number): string {
  return `${Math.trunc(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

function view(payment: Payment): Record<string, unknown> {
  return {
    trade_no: payment.id,
    out_trade_no: payment.orderNo,
    total_amount: fenToYuan(payment.amount),
    currency: payment.currency,
    subject: payment.description,
    status: payment.closed ? 'TRADE_CLOSED' : 'TRADE_SUCCESS',
    refunded_amount: fenToYuan(payment.refunded),
    created_at: payment.createdAt,
  };
}

/** A payment found by id or order number, in this version's view; 404 when there is none. */
function found(payment: Payment | undefined): Reply {
  return payment ? { status: 200, body: view(payment) } : fail(404, 'not_found');
}

function invalid(field: string): Reply {
  return fail(400, 'invalid_request', `${field} is missing or invalid`);
}

function create(store: PaymentStore, req: ApiRequest): Reply {
  const body = parseJsonObject(req.body);
  if (!body) return fail(400, 'invalid_json');
  const { out_trade_no, total_amount, currency, subject, notify_url } = body;
  if (typeof out_trade_no !== 'string' || !ORDER_NUMBER.test(out_trade_no)) return invalid('out_trade_no');
  const amount = yuanToFen(total_amount);
  if (amount === undefined) return invalid('total_amount');
  if (typeof currency !== 'string' || currency === '') return invalid('currency');
  if (typeof subject !== 'string' || subject === '') return invalid('subject');
  if (notify_url !== undefined && typeof notify_url !== 'string') return invalid('notify_url');
  const { payment, created } = store.create(req.merchant, {
    orderNo: out_trade_no,
    amount,
    currency,
    description: subject,
    ...(notify_url === undefined ? {} : { notifyUrl: notify_url }),
    via: 'v1',
  });
  // A repeated out_trade_no is idempotent: it answers the payment already made, as it is now.
  if (!created) return { status: 200, body: view(payment) };
  // The create answers WAIT_BUYER_PAY as the legacy system does; the payment is paid at once, so
  // the next query shows TRADE_SUCCESS.
  const { trade_no, total_amount: total } = view(payment);
  return { status: 200, body: { trade_no, out_trade_no, total_amount: total, status: 'WAIT_BUYER_PAY' } };
}

function queryByOrder(store: PaymentStore, req: ApiRequest): Reply {
  const orderNo = req.query.get('out_trade_no');
  if (orderNo === null || orderNo === '') return invalid('out_trade_no');
  return found(store.findByOrder(req.merchant, orderNo));
}

function refund(store: PaymentStore, req: ApiRequest, tradeNo: string): Reply {
  const body = parseJsonObject(req.body);
  if (!body) return fail(400, 'invalid_json');
  const { out_request_no, refund_amount } = body;
  if (typeof out_request_no !== 'string' || !ORDER_NUMBER.test(out_request_no)) return invalid('out_request_no');
  const amount = yuanToFen(refund_amount);
  if (amount === undefined) return invalid('refund_amount');
  const outcome = store.refund(req.merchant, tradeNo, amount, out_request_no);
  if ('error' in outcome) return fail(REFUND_ERROR_STATUS[outcome.error], outcome.error);
  return {
    status: 200,
    body: { trade_no: tradeNo, out_request_no, refund_amount: fenToYuan(outcome.refund.amount), status: 'REFUND_SUCCESS' },
  };
}

function close(store: PaymentStore, req: ApiRequest, tradeNo: string): Reply {
  if (!emptyOrJsonObject(req.body)) return fail(400, 'invalid_json');
  const payment = store.close(req.merchant, tradeNo);
  return payment ? { status: 200, body: { trade_no: payment.id, status: 'TRADE_CLOSED' } } : fail(404, 'not_found');
}

/** Answers a v1 call under `/api/v1/payments`. */
export function handleV1Payments(store: PaymentStore, req: ApiRequest): Reply {
  return dispatchPayments(req, {
    create: () => create(store, req),
    query: () => queryByOrder(store, req),
    get: (tradeNo) => found(store.find(req.merchant, tradeNo)),
    actions: { refund: (tradeNo) => refund(store, req, tradeNo), close: (tradeNo) => close(store, req, tradeNo) },
  });
}
