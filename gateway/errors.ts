/**
 * Every error the gateway itself answers, in one table: a stable code (the
 * `error` field of SPEC section 3), an HTTP status and a default message.
 */
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
  payload_too_large: { status: 413, message: 'The body is over the size limit' },
  unsupported_media_type: { status: 415, message: 'The body must be application/json' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this endpoint' },
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
  shutting_down: { status: 503, message: 'The gateway is shutting down' },
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
