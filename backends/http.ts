// Small HTTP helpers shared by the reference backends: the request/reply shapes the version
// modules work with, body reading, JSON answers, and an at-least-N-ms delay.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

/** What a version module sees of a merchant call. */
export interface ApiRequest {
  method: string;
  /** Path segments after `/api/vN/payments`, percent-decoded. */
  segments: string[];
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  merchant: string;
}

/** A JSON answer. */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Bodies above this are answered 413; the gateway enforces its own, smaller limit first. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** A coded error answer: `{"error": code}`, plus `message` where it helps (which field is wrong). */
export function fail(status: number, error: string, message?: string): Reply {
  return { status, body: message === undefined ? { error } : { error, message } };
}

/** 405 with the `Allow` header RFC 9110 §15.5.6 requires. */
export function methodNotAllowed(allow: string): Reply {
  return { status: 405, body: { error: 'method_not_allowed' }, headers: { allow } };
}

/**
 * Reads the whole body as UTF-8. Past the limit the rest is drained and dropped (so the
 * keep-alive connection stays usable) and `tooLarge` is set.
 */
export function readBody(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<{ text: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), tooLarge: size > limit }));
    req.on('error', reject);
  });
}

/** Parses a JSON object body; anything else (bad JSON, array, scalar) is undefined. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a JSON answer with `content-type: application/json`. */
export function sendJson(res: ServerResponse, reply: Reply): void {
  const payload = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

/**
 * Waits at least `ms` milliseconds by the monotonic clock. A lone setTimeout may fire a little
 * early against performance.now() (libuv schedules from its cached loop time), and tests assert
 * the configured latency as a lower bound.
 */
export async function delayAtLeast(ms: number): Promise<void> {
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) {
    await sleep(Math.ceil(left));
  }
}

/** Whether a body where none is expected (close, cancel) is acceptable: empty, or at least a JSON object. */
export function emptyOrJsonObject(text: string): boolean {
  return text.trim() === '' || parseJsonObject(text) !== undefined;
}

/** The endpoints of one API version's /payments resource, each answering for the request at hand. */
export interface PaymentsEndpoints {
  /** POST /payments */
  create(): Reply;
  /** GET /payments?<order field>= */
  query(): Reply;
  /** GET /payments/{id} */
  get(id: string): Reply;
  /** POST /payments/{id}/{action}, by the version's action segment (refund, close, refunds, cancel). */
  actions: Record<string, (id: string) => Reply>;
}

/**
 * Dispatches a call under /api/vN/payments to its endpoint: the same
 * resource shape in both versions, 404 unknown_endpoint for any other path
 * and 405 with Allow for another method.
 */
export function dispatchPayments(req: ApiRequest, endpoints: PaymentsEndpoints): Reply {
  const [id, action, ...extra] = req.segments;
  if (extra.length > 0) return fail(404, 'unknown_endpoint');
  if (id === undefined) {
    if (req.method === 'POST') return endpoints.create();
    if (req.method === 'GET') return endpoints.query();
    return methodNotAllowed('GET, POST');
  }
  if (action === undefined) return req.method === 'GET' ? endpoints.get(id) : methodNotAllowed('GET');
  const act = Object.hasOwn(endpoints.actions, action) ? endpoints.actions[action] : undefined;
  if (!act) return fail(404, 'unknown_endpoint');
  if (req.method !== 'POST') return methodNotAllowed('POST');
  return act(id);
}
