/**
 * Identify: what a merchant request is. The API version and the endpoint come
 * from the path; the transaction it names from the path, the query or the
 * body. Path spellings that could escape the API prefix are refused here.
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

interface Route { method: string; re: RegExp; endpoint: Endpoint; schema?: SchemaId }
const ROUTES: Record<ApiVersion, Route[]> = {
  v1: [
    { method: 'POST', re: /^\/payments$/, endpoint: 'create', schema: 'v1-create-payment' },
    { method: 'GET', re: /^\/payments$/, endpoint: 'query' },
    { method: 'GET', re: new RegExp(`^/payments/(${ID})$`), endpoint: 'get' },
    { method: 'POST', re: new RegExp(`^/payments/(${ID})/refund$`), endpoint: 'refund', schema: 'v1-refund' },
    { method: 'POST', re: new RegExp(`^/payments/(${ID})/close$`), endpoint: 'close', schema: 'empty-body' },
  ],
  v2: [
    { method: 'POST', re: /^\/payments$/, endpoint: 'create', schema: 'v2-create-payment' },
    { method: 'GET', re: /^\/payments$/, endpoint: 'query' },
    { method: 'GET', re: new RegExp(`^/payments/(${ID})$`), endpoint: 'get' },
    { method: 'POST', re: new RegExp(`^/payments/(${ID})/refunds$`), endpoint: 'refund', schema: 'v2-refund' },
    { method: 'POST', re: new RegExp(`^/payments/(${ID})/cancel$`), endpoint: 'close', schema: 'empty-body' },
  ],
};

/**
 * Anything that a server or backend might decode into a different path:
 * dot segments, encoded dots/slashes/backslashes, empty segments, control
 * characters. The data plane only serves plain paths (SPEC 10).
 */
const UNSAFE_PATH = /(^|\/)\.{1,2}(\/|$)|%2e|%2f|%5c|%00|\\|\/\/|[\x00-\x20\x7f]/i;

/** Splits the raw request target and refuses unsafe spellings. */
export function parseTarget(rawUrl: string): { path: string; search: string } {
  if (!rawUrl.startsWith('/')) throw new GatewayError('bad_request', { message: 'The request target must be an absolute path' });
  // A fragment never belongs in a request target (RFC 9112 3.2); backends would each read it their own way.
  if (rawUrl.includes('#')) throw new GatewayError('bad_request', { message: 'The request target must not contain a fragment' });
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  if (UNSAFE_PATH.test(path)) throw new GatewayError('bad_request', { message: 'The path contains a forbidden sequence' });
  return { path, search: q === -1 ? '' : rawUrl.slice(q + 1) };
}

/** Identifies a merchant request; throws a GatewayError for an unknown version or an unsafe path. */
export function identify(method: string, rawUrl: string): Identified {
  const { path, search } = parseTarget(rawUrl);
  const m = /^\/api\/([^/]+)(\/.*)?$/.exec(path);
  if (!m) throw new GatewayError('not_found', { message: 'Only /api/v1/ and /api/v2/ are served here' });
  const apiVersion = m[1];
  if (apiVersion !== 'v1' && apiVersion !== 'v2') {
    throw new GatewayError('unknown_api_version', { message: `Unknown API version "${apiVersion}"; this gateway serves v1 and v2` });
  }
  const rest = m[2] ?? '/';
  const orderField = apiVersion === 'v1' ? 'out_trade_no' : 'merchantOrderId';
  const base = { apiVersion, path, search, orderField } as const;
  for (const route of ROUTES[apiVersion]) {
    const hit = route.re.exec(rest);
    if (!hit) continue;
    if (route.method !== method) {
      // Same path, other method: a modelled resource; refuse instead of passing it on unvalidated.
      const allowed = [...new Set(ROUTES[apiVersion].filter((r) => r.re.test(rest)).map((r) => r.method))];
      if (allowed.includes(method)) continue;
      // RFC 9110 15.5.6: Allow lists every method the resource supports.
      throw new GatewayError('method_not_allowed', { message: `${method} is not allowed on ${path}`, headers: { allow: allowed.join(', ') } });
    }
    return { ...base, endpoint: route.endpoint, transactionId: hit[1], bodySchema: route.schema };
  }
  return { ...base, endpoint: 'unmodelled' };
}

/** The parsed query string of a request. */
export function queryParams(t: Identified): URLSearchParams {
  return new URLSearchParams(t.search);
}

/** The merchant order number a query names, validated like the body field. */
export function queryOrderId(t: Identified): string {
  const values = queryParams(t).getAll(t.orderField);
  if (values.length !== 1 || !ORDER_RE.test(values[0])) {
    throw new GatewayError('invalid_request', {
      details: [{ path: `/query/${t.orderField}`, message: 'exactly one order number of 1-64 characters [A-Za-z0-9_-] is required' }],
    });
  }
  return values[0];
}
