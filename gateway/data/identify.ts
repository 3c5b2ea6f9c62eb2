/**
 * Identify: what a merchant request is. The API version and the endpoint come
 * from the path; the transaction it names from the path, the query or the
 * body. Path spellings that could escape the API prefix are refused here,
 * and so is anything under /api/vN/payments that is not exactly one modelled
 * endpoint (SPEC 10: one reading of every request).
 */
import type { ApiVersion } from '../config.ts';
import { GatewayError } from '../errors.ts';
import type { SchemaId } from '../schemas.ts';

export type Endpoint = 'create' | 'get' | 'query' | 'refund' | 'close' | 'unmodelled';

export interface Identified {
  apiVersion: ApiVersion;
  endpoint: Endpoint;
  /** Path without the query string, exactly as sent (already checked to be plain). */
  path: string;
  /** Query string without the '?' ('' when none); parsed only by what reads it (`queryParams`). */
  search: string;
  /** Transaction id from the path, for get/refund/close. */
  transactionId?: string;
  /** Schema of the body, for modelled POSTs. */
  bodySchema?: SchemaId;
  /** Field of the query (query) or body (create) that holds the merchant order number. */
  orderField: 'out_trade_no' | 'merchantOrderId';
}

const ID = '[A-Za-z0-9_-]{1,64}';
const ORDER_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** A merchant id (the merchant header, flags, explain): never a ':', which separates pin key parts. */
export const MERCHANT_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** What sets one API version's payment endpoints apart: only names (SPEC 2). */
interface VersionNames {
  createSchema: SchemaId;
  /** The path segment after /payments/{id} for a refund, and its body schema. */
  refundSegment: string;
  refundSchema: SchemaId;
  /** The path segment after /payments/{id} that closes (cancels) a payment. */
  closeSegment: string;
  orderField: Identified['orderField'];
}
const NAMES: Record<ApiVersion, VersionNames> = {
  v1: { createSchema: 'v1-create-payment', refundSegment: 'refund', refundSchema: 'v1-refund', closeSegment: 'close', orderField: 'out_trade_no' },
  v2: { createSchema: 'v2-create-payment', refundSegment: 'refunds', refundSchema: 'v2-refund', closeSegment: 'cancel', orderField: 'merchantOrderId' },
};

interface Route { method: string; re: RegExp; endpoint: Endpoint; schema?: SchemaId }
/** The five payment endpoints, the same in every version, under that version's names. */
function routesOf(names: VersionNames): Route[] {
  return [
    { method: 'POST', re: /^\/payments$/, endpoint: 'create', schema: names.createSchema },
    { method: 'GET', re: /^\/payments$/, endpoint: 'query' },
    { method: 'GET', re: new RegExp(`^/payments/(${ID})$`), endpoint: 'get' },
    { method: 'POST', re: new RegExp(`^/payments/(${ID})/${names.refundSegment}$`), endpoint: 'refund', schema: names.refundSchema },
    { method: 'POST', re: new RegExp(`^/payments/(${ID})/${names.closeSegment}$`), endpoint: 'close', schema: 'empty-body' },
  ];
}
const ROUTES: Record<ApiVersion, Route[]> = { v1: routesOf(NAMES.v1), v2: routesOf(NAMES.v2) };

/**
 * Anything that a server or backend might decode into a different path:
 * dot segments, backslashes, empty segments, control characters. The data
 * plane only serves plain paths (SPEC 10).
 */
const UNSAFE_PATH = /(^|\/)\.{1,2}(\/|$)|\\|\/\/|[\x00-\x20\x7f]/;

/** Splits the raw request target and refuses unsafe spellings. */
export function parseTarget(rawUrl: string): { path: string; search: string } {
  if (!rawUrl.startsWith('/')) throw new GatewayError('bad_request', { message: 'The request target must be an absolute path' });
  // A fragment never belongs in a request target (RFC 9112 3.2); backends would each read it their own way.
  if (rawUrl.includes('#')) throw new GatewayError('bad_request', { message: 'The request target must not contain a fragment' });
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  // No percent-encoded octet at all (issue 13): a backend that decodes "%32" reads another
  // path than the one the gateway matched, pinned and validated. No path this API serves needs one.
  if (path.includes('%')) throw new GatewayError('encoded_path', { message: 'The path must not contain "%": percent-encoded octets are not accepted' });
  // No ";" either: Tomcat and Spring strip ";params" from every segment, so "/api/v1/echo/..;/payments/T/refund"
  // is an unmodelled path here and the refund endpoint there. No path this API serves needs one.
  if (path.includes(';')) throw new GatewayError('path_parameter', { message: 'The path must not contain ";": path parameters are not accepted' });
  if (UNSAFE_PATH.test(path)) throw new GatewayError('bad_request', { message: 'The path contains a forbidden sequence' });
  return { path, search: q === -1 ? '' : rawUrl.slice(q + 1) };
}

/** Methods proxied to endpoints the gateway does not model, unless configured otherwise. */
export const DEFAULT_UNMODELLED_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Whether the rest of a path (after /api/vN) is in the closed payments
 * namespace. Judged on the first segment, lower-cased and cut at its first
 * character outside [a-z0-9_-], so that a case variant, a matrix parameter or
 * a format suffix that some backend might strip ("/Payments",
 * "/payments;x=1/...", "/payments.json") is inside the namespace, and so
 * refused rather than routed as an unmodelled endpoint.
 */
function inPaymentsNamespace(rest: string): boolean {
  const end = rest.indexOf('/', 1);
  const first = (end === -1 ? rest.slice(1) : rest.slice(1, end)).toLowerCase();
  return /^payments(?![a-z0-9_-])/.test(first);
}

/**
 * Identifies a merchant request; throws a GatewayError for an unknown
 * version, an unsafe path, a path under /api/vN/payments that is not exactly
 * one modelled endpoint (404 unknown_endpoint, or 405 with Allow), or a
 * method outside `unmodelledMethods` on any other path.
 */
export function identify(method: string, rawUrl: string, unmodelledMethods: ReadonlySet<string> = DEFAULT_UNMODELLED_METHODS): Identified {
  const { path, search } = parseTarget(rawUrl);
  const m = /^\/api\/([^/]+)(\/.*)?$/.exec(path);
  if (!m) throw new GatewayError('not_found', { message: 'Only /api/v1/ and /api/v2/ are served here' });
  const apiVersion = m[1];
  if (apiVersion !== 'v1' && apiVersion !== 'v2') {
    throw new GatewayError('unknown_api_version', { message: `Unknown API version "${apiVersion}"; this gateway serves v1 and v2` });
  }
  const rest = m[2] ?? '/';
  const base = { apiVersion, path, search, orderField: NAMES[apiVersion].orderField } as const;
  if (inPaymentsNamespace(rest)) {
    const routes = ROUTES[apiVersion];
    for (const route of routes) {
      const hit = route.re.exec(rest);
      if (hit && route.method === method) return { ...base, endpoint: route.endpoint, transactionId: hit[1], bodySchema: route.schema };
    }
    const allowed = [...new Set(routes.filter((r) => r.re.test(rest)).map((r) => r.method))];
    // RFC 9110 15.5.6: a 405 lists in Allow every method the resource supports.
    if (allowed.length > 0) throw new GatewayError('method_not_allowed', { message: `${method} is not allowed on ${path}`, headers: { allow: allowed.join(', ') } });
    throw new GatewayError('unknown_endpoint', { message: `${path} is not an endpoint of the ${apiVersion} payments API` });
  }
  if (!unmodelledMethods.has(method)) {
    throw new GatewayError('method_not_allowed', { message: `${method} is not forwarded`, headers: { allow: [...unmodelledMethods].join(', ') } });
  }
  return { ...base, endpoint: 'unmodelled' };
}

/** The parsed query string of a request. */
export function queryParams(t: Identified): URLSearchParams {
  return new URLSearchParams(t.search);
}

/**
 * The merchant order number a query names, validated like the body field.
 * The order field is the only parameter a query takes: backends read other
 * names the gateway never checked (Alipay-style `trade_no`, PHP folding
 * `out.trade.no` into `out_trade_no`, `x[]` arrays), and the backend gets
 * the query rebuilt from this value (`forwardedTarget`).
 */
export function queryOrderId(t: Identified): string {
  const params = queryParams(t);
  const others = [...new Set([...params.keys()].filter((name) => name !== t.orderField))];
  if (others.length > 0) {
    throw new GatewayError('invalid_request', {
      details: others.map((name) => ({ path: `/query/${name}`, message: `is not an allowed parameter (only ${t.orderField})` })),
    });
  }
  const values = params.getAll(t.orderField);
  if (values.length !== 1 || !ORDER_RE.test(values[0])) {
    throw new GatewayError('invalid_request', {
      details: [{ path: `/query/${t.orderField}`, message: 'exactly one order number of 1-64 characters [A-Za-z0-9_-] is required' }],
    });
  }
  return values[0];
}

/** Refuses a query string on a modelled endpoint that takes none (create, get, refund, close). */
export function refuseQuery(t: Identified): void {
  if (t.search === '') return;
  throw new GatewayError('invalid_request', { details: [{ path: '/query', message: `${t.endpoint} takes no query string` }] });
}

/**
 * The request target the backend receives: for a modelled endpoint the path
 * that was matched and, for a query, only the validated order number, so that
 * the backend reads nothing the gateway did not; for an unmodelled one the
 * target as sent.
 */
export function forwardedTarget(t: Identified, rawUrl: string, orderId?: string): string {
  if (t.endpoint === 'unmodelled') return rawUrl;
  // ORDER_RE leaves nothing to encode.
  return t.endpoint === 'query' ? `${t.path}?${t.orderField}=${orderId!}` : t.path;
}
