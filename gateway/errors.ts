/**
 * Every error the gateway itself answers, from either port, in one table: a
 * stable code (the `error` field of SPEC section 3), an HTTP status and a
 * default message; and the one function that writes them (sendError).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { Logger } from './log.ts';

export const ERRORS = {
  unknown_api_version: { status: 404, message: 'Unknown API version' },
  not_found: { status: 404, message: 'No such endpoint' },
  missing_merchant: { status: 400, message: 'The merchant header is required' },
  duplicate_header: { status: 400, message: 'A header that must appear once was sent more than once' },
  missing_idempotency_key: { status: 400, message: 'Idempotency-Key header is required on v2 POST calls' },
  invalid_header: { status: 400, message: 'A header value is not valid' },
  invalid_json: { status: 400, message: 'The body is not valid JSON' },
  invalid_request: { status: 400, message: 'The request does not match its schema' },
  bad_request: { status: 400, message: 'The request is malformed' },
  header_too_large: { status: 431, message: 'The request headers are over the size limit' },
  request_timeout: { status: 408, message: 'The request was not received in time' },
  payload_too_large: { status: 413, message: 'The body is over the size limit' },
  unsupported_media_type: { status: 415, message: 'The body must be application/json' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this endpoint' },
  unknown_endpoint: { status: 404, message: 'No such endpoint under /api/vN/payments' },
  encoded_path: { status: 400, message: 'The path must not contain percent-encoded octets' },
  path_parameter: { status: 400, message: 'The path must not contain ";"' },
  invalid_host: { status: 400, message: 'Exactly one valid Host header is required' },
  unsupported_content_encoding: { status: 415, message: 'Content-Encoding is not accepted on this endpoint' },
  idempotency_key_reused: { status: 409, message: 'This Idempotency-Key was already used for another order on another backend' },
  idempotency_key_mismatch: { status: 422, message: 'This Idempotency-Key was already used with a different request' },
  version_mismatch: { status: 409, message: 'The transaction lives on a backend that does not speak this API version' },
  pin_store_unavailable: { status: 503, message: 'The pin store cannot answer; refusing rather than guessing' },
  transaction_moving: { status: 503, message: 'The transaction is being handed over to another backend; retry in a second' },
  backend_unavailable: { status: 503, message: 'The backend is unavailable (circuit open)' },
  backend_busy: { status: 503, message: 'Every connection to the backend is busy; try again shortly' },
  backend_timeout: { status: 504, message: 'The backend did not answer in time' },
  backend_unreachable: { status: 502, message: 'The backend could not be reached' },
  backend_error: { status: 502, message: 'The backend connection failed mid-response' },
  client_closed_request: { status: 499, message: 'The client closed the connection before the answer' },
  internal_error: { status: 500, message: 'Internal gateway error' },
  unauthorized: { status: 401, message: 'A valid Bearer token is required' },
  forbidden: { status: 403, message: 'This token may not make changes' },
  version_conflict: { status: 409, message: 'The ruleset changed since it was read (If-Match is stale)' },
  invalid_ruleset: { status: 400, message: 'The ruleset is not valid' },
  invalid_canary: { status: 400, message: 'The canary rollout is not valid' },
  canary_conflict: { status: 409, message: 'The canary cannot do that in its current state' },
  store_unavailable: { status: 503, message: 'The store cannot answer' },
  invalid_handover: { status: 400, message: 'The hand-over request is not valid' },
  handover_not_found: { status: 404, message: 'No such hand-over job' },
  handover_conflict: { status: 409, message: 'The hand-over job cannot do that in its current state' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** A coded gateway error; `cause` keeps the original failure for logs. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, opts: { message?: string; details?: unknown; cause?: unknown; headers?: Record<string, string> } = {}) {
    super(opts.message ?? ERRORS[code].message, { cause: opts.cause });
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = opts.details;
    this.headers = opts.headers;
  }
}

/** The JSON body of an error answer. */
export function errorBody(err: GatewayError, requestId: string | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = { error: err.code, message: err.message };
  if (requestId) body.requestId = requestId;
  if (err.details !== undefined) body.details = err.details;
  return body;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id of an answer: the caller's `x-request-id` when well-formed, else a fresh one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Answers a coded JSON error, or cuts the connection when the answer had already begun.
 * `head`: the gateway's own headers (flat name/value list) for the answer. `log` may be
 * left out only where every error is a 4xx (server.ts's framing refusals): 5xx are logged.
 */
export function sendError(res: ServerResponse, err: unknown, requestId: string | undefined, log: Logger | undefined, head: readonly string[] = []): void {
  const gwErr = err instanceof GatewayError ? err : new GatewayError('internal_error', { cause: err });
  if (gwErr.code === 'internal_error') log?.error({ err, requestId }, 'unexpected error');
  else if (gwErr.status >= 500) log?.warn({ code: gwErr.code, cause: (gwErr.cause as Error | undefined)?.message, requestId }, 'refused');
  if (res.headersSent || res.destroyed) { res.destroy(); return; }
  const body = JSON.stringify(errorBody(gwErr, requestId));
  res.statusCode = gwErr.status;
  for (let i = 0; i < head.length; i += 2) res.setHeader(head[i], head[i + 1]);
  for (const [k, v] of Object.entries(gwErr.headers ?? {})) res.setHeader(k, v);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * The same answer as raw HTTP/1.1 bytes, for a request the parser refused
 * (there is no response object then), closing the connection.
 */
export function rawErrorResponse(err: GatewayError, requestId: string): string {
  const body = JSON.stringify(errorBody(err, requestId));
  return `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`;
}
