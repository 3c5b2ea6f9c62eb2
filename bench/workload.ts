/**
 * The merchant workload every benchmark column runs: in each API version, a
 * payment is created and then followed up four times (read by id, partial
 * refund, read by order number, close/cancel), with bodies shaped like real
 * merchant calls. One create in five requests. A session runs the steps in
 * order; the create's answer gives the transaction id its follow-ups name.
 */
export type ApiVersion = 'v1' | 'v2';

export interface HttpCall { method: string; path: string; headers: Record<string, string>; body?: string }

/** One session: a merchant, an order, and the transaction id once created. */
export interface Session { merchant: string; order: string; id?: string; n: number }

export interface Step {
  name: string;
  version: ApiVersion;
  followUp: boolean;
  build(s: Session): HttpCall;
  /** Reads what later steps need from the answer (the create's transaction id). */
  onAnswer?(s: Session, status: number, body: string): void;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const SUBJECTS = ['Green tea 250g x2', 'Wireless earphones, black', 'Monthly membership (Oct)', 'Train ticket G1234 Beijing-Shanghai', 'Groceries: rice 5kg, oil 1L'];

function pickId(field: 'trade_no' | 'id') {
  return (s: Session, status: number, body: string) => {
    s.id = undefined;
    if (status < 200 || status >= 300) return;
    try { s.id = (JSON.parse(body) as Record<string, string>)[field]; } catch { /* counted as an error by the status */ }
  };
}

/** `missing` stands for an id a failed create never gave: the follow-up then answers 404 and shows up as an error. */
const idOf = (s: Session) => s.id ?? 'missing';

export const V1_STEPS: Step[] = [
  {
    name: 'v1 create', version: 'v1', followUp: false,
    build: (s) => ({
      method: 'POST', path: '/api/v1/payments', headers: { ...JSON_HEADERS, 'x-merchant-id': s.merchant },
      body: JSON.stringify({
        out_trade_no: s.order, total_amount: `${100 + (s.n % 900)}.${String(s.n % 100).padStart(2, '0')}`, currency: 'CNY',
        subject: SUBJECTS[s.n % SUBJECTS.length], notify_url: 'https://merchant.example.com/pay/notify?channel=cutover',
      }),
    }),
    onAnswer: pickId('trade_no'),
  },
  { name: 'v1 get', version: 'v1', followUp: true, build: (s) => ({ method: 'GET', path: `/api/v1/payments/${idOf(s)}`, headers: { 'x-merchant-id': s.merchant } }) },
  {
    name: 'v1 refund', version: 'v1', followUp: true,
    build: (s) => ({
      method: 'POST', path: `/api/v1/payments/${idOf(s)}/refund`, headers: { ...JSON_HEADERS, 'x-merchant-id': s.merchant },
      body: JSON.stringify({ out_request_no: `${s.order}-r1`, refund_amount: '10.00' }),
    }),
  },
  { name: 'v1 query', version: 'v1', followUp: true, build: (s) => ({ method: 'GET', path: `/api/v1/payments?out_trade_no=${s.order}`, headers: { 'x-merchant-id': s.merchant } }) },
  {
    name: 'v1 close', version: 'v1', followUp: true,
    build: (s) => ({ method: 'POST', path: `/api/v1/payments/${idOf(s)}/close`, headers: { ...JSON_HEADERS, 'x-merchant-id': s.merchant }, body: '{}' }),
  },
];

export const V2_STEPS: Step[] = [
  {
    name: 'v2 create', version: 'v2', followUp: false,
    build: (s) => ({
      method: 'POST', path: '/api/v2/payments',
      headers: { ...JSON_HEADERS, 'x-merchant-id': s.merchant, 'idempotency-key': `${s.order}-c` },
      body: JSON.stringify({
        merchantOrderId: s.order, amount: { value: 10_000 + (s.n % 90_000), currency: 'CNY' },
        description: SUBJECTS[s.n % SUBJECTS.length], notifyUrl: 'https://merchant.example.com/pay/notify?channel=cutover',
      }),
    }),
    onAnswer: pickId('id'),
  },
  { name: 'v2 get', version: 'v2', followUp: true, build: (s) => ({ method: 'GET', path: `/api/v2/payments/${idOf(s)}`, headers: { 'x-merchant-id': s.merchant } }) },
  {
    name: 'v2 refund', version: 'v2', followUp: true,
    build: (s) => ({
      method: 'POST', path: `/api/v2/payments/${idOf(s)}/refunds`,
      headers: { ...JSON_HEADERS, 'x-merchant-id': s.merchant, 'idempotency-key': `${s.order}-r1` },
      body: JSON.stringify({ amount: { value: 1000, currency: 'CNY' }, reason: 'customer returned one item' }),
    }),
  },
  { name: 'v2 query', version: 'v2', followUp: true, build: (s) => ({ method: 'GET', path: `/api/v2/payments?merchantOrderId=${s.order}`, headers: { 'x-merchant-id': s.merchant } }) },
  {
    name: 'v2 cancel', version: 'v2', followUp: true,
    build: (s) => ({
      method: 'POST', path: `/api/v2/payments/${idOf(s)}/cancel`,
      headers: { ...JSON_HEADERS, 'x-merchant-id': s.merchant, 'idempotency-key': `${s.order}-x` }, body: '{}',
    }),
  },
];

export const STEPS: Record<ApiVersion, Step[]> = { v1: V1_STEPS, v2: V2_STEPS };
export const MERCHANTS = 200;

/** Makes sessions with order numbers unique to this run (`tag`) and to the connection (`lane`). */
export function sessionMaker(tag: string, lane: number) {
  let n = 0;
  return (): Session => {
    n += 1;
    return { merchant: `M-${String((lane * 7919 + n) % MERCHANTS).padStart(4, '0')}`, order: `${tag}-${lane.toString(36)}-${n.toString(36)}`, n };
  };
}

/** A short tag that keeps order numbers unique across runs sharing one store. */
export function runTag(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}
