// A reference clearing backend (SPEC §1, §3): `legacy` speaks v1, `next` speaks v1 and v2. Outside
// the product: the demo, the tests and the benchmark run the gateway against it. Plain node:http.
import http from 'node:http';
import { delayAtLeast, fail, parseJsonObject, readBody, sendJson, type ApiRequest, type Reply } from './http.ts';
import { PaymentStore, type ApiVersion, type BackendKind } from './store.ts';
import { echo, sendStream, streamLength } from './unmodelled.ts';
import { handleV1Payments } from './v1.ts';
import { handleV2Payments } from './v2.ts';

/** Test and benchmark switches, read on every merchant call: mutate them, or `PUT /_control`. */
export interface BackendControls {
  /** Added delay before answering a merchant call, in milliseconds. */
  latencyMs: number;
  /** Share (0..1) of merchant calls answered 500 `injected_failure`. */
  failRate: number;
}

export interface ReferenceBackendOptions {
  kind: BackendKind;
  latencyMs?: number;
  failRate?: number;
  /** Source of randomness for failRate draws (tests pass a fixed one); Math.random by default. */
  random?: () => number;
}

export interface BackendState {
  store: PaymentStore;
  /** Merchant calls received (everything under /api/), control endpoints not counted. */
  requests: number;
}

export interface ReferenceBackend {
  kind: BackendKind;
  server: http.Server;
  controls: BackendControls;
  state: BackendState;
}

const VERSIONS: Record<BackendKind, readonly ApiVersion[]> = { legacy: ['v1'], next: ['v1', 'v2'] };
const API_PATH = /^\/api\/([^/]+)(?:\/(.*))?$/;

function checkControls(latencyMs: unknown, failRate: unknown): string | undefined {
  if (latencyMs !== undefined && !(typeof latencyMs === 'number' && Number.isFinite(latencyMs) && latencyMs >= 0)) return 'latencyMs must be a number >= 0';
  if (failRate !== undefined && !(typeof failRate === 'number' && failRate >= 0 && failRate <= 1)) return 'failRate must be a number from 0 to 1';
  return undefined;
}

/** The origin-form target (RFC 9112 §3.2.1) as a URL; `//x/y` stays a path, not a host. */
function requestUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target?.startsWith('/') ? `http://backend.invalid${target}` : (target ?? ''));
  } catch {
    return undefined;
  }
}

/** Builds a reference backend, not listening: the caller listens (port 0 in tests) and closes. */
export function createReferenceBackend(opts: ReferenceBackendOptions): ReferenceBackend {
  if (opts.kind !== 'legacy' && opts.kind !== 'next') throw new TypeError(`unknown backend kind: ${String(opts.kind)}`);
  const problem = checkControls(opts.latencyMs, opts.failRate);
  if (problem) throw new RangeError(problem);
  const kind = opts.kind;
  const random = opts.random ?? Math.random;
  const controls: BackendControls = { latencyMs: opts.latencyMs ?? 0, failRate: opts.failRate ?? 0 };
  const state: BackendState = { store: new PaymentStore(kind), requests: 0 };
  const speaks = VERSIONS[kind];

  function control(method: string, body: string): Reply {
    if (method === 'PUT') {
      const input = parseJsonObject(body);
      if (!input) return fail(400, 'invalid_json');
      const unknown = Object.keys(input).filter((k) => k !== 'latencyMs' && k !== 'failRate');
      if (unknown.length > 0) return fail(400, 'invalid_request', `unknown field ${unknown[0]}`);
      const bad = checkControls(input.latencyMs, input.failRate);
      if (bad) return fail(400, 'invalid_request', bad);
      if (typeof input.latencyMs === 'number') controls.latencyMs = input.latencyMs;
      if (typeof input.failRate === 'number') controls.failRate = input.failRate;
    } else if (method !== 'GET') {
      return { status: 405, body: { error: 'method_not_allowed' }, headers: { allow: 'GET, PUT' } };
    }
    return { status: 200, body: { ...controls } };
  }

  function admin(method: string, path: string, body: string): Reply {
    if (path === '/_control') return control(method, body);
    if (path === '/_stats') return { status: 200, body: { payments: state.store.paymentCount, requests: state.requests } };
    // Migration and tests only: payments copied from the other system (issue 16), `{payments: [Payment]}`.
    if (path === '/_migration/import' && method === 'POST') {
      const input = parseJsonObject(body);
      if (!input || !Array.isArray(input.payments)) return fail(400, 'invalid_request', 'expected {payments: [...]}');
      let imported = 0;
      for (const p of input.payments) if (state.store.importPayment(p)) imported++;
      return { status: 200, body: { imported } };
    }
    // Migration and tests only: the stored records of some payments, `{merchant, ids}` → `{payments}`.
    if (path === '/_migration/export' && method === 'POST') {
      const input = parseJsonObject(body);
      if (!input || typeof input.merchant !== 'string' || !Array.isArray(input.ids)) return fail(400, 'invalid_request', 'expected {merchant, ids: [...]}');
      return { status: 200, body: { payments: input.ids.map((id) => state.store.find(input.merchant as string, String(id))).filter(Boolean) } };
    }
    if (path === '/_health') return { status: 200, body: { status: 'ok', backend: kind } };
    return fail(404, 'unknown_endpoint');
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const headers: Record<string, string> = { 'x-backend': kind };
    const requestId = req.headers['x-request-id'];
    if (typeof requestId === 'string') headers['x-request-id'] = requestId;
    const answer = (reply: Reply): void => sendJson(res, { ...reply, headers: { ...reply.headers, ...headers } });

    const method = req.method ?? 'GET';
    const url = requestUrl(req.url);
    if (!url) return answer(fail(400, 'invalid_request', 'unparsable request target'));
    const { text: body, tooLarge } = await readBody(req);
    if (tooLarge) return answer(fail(413, 'body_too_large'));
    const api = API_PATH.exec(url.pathname);
    if (!api) return answer(admin(method, url.pathname, body));

    state.requests += 1;
    await delayAtLeast(controls.latencyMs);
    if (random() < controls.failRate) return answer(fail(500, 'injected_failure'));
    const version = api[1] as ApiVersion;
    if (!speaks.includes(version)) return answer(fail(404, 'unknown_api_version'));
    const [resource, ...rest] = (api[2] ?? '').split('/');
    if (resource === 'echo') return answer(echo(req, body));
    if (resource === 'stream') {
      if (method !== 'GET') return answer({ status: 405, body: { error: 'method_not_allowed' }, headers: { allow: 'GET' } });
      const bytes = streamLength(url.searchParams);
      return typeof bytes === 'number' ? sendStream(res, bytes, headers) : answer(bytes);
    }
    if (resource !== 'payments' || rest.includes('')) return answer(fail(404, 'unknown_endpoint'));

    // Payment calls only: echo and stream show what arrives, with or without a merchant.
    const merchant = req.headers['x-merchant-id'];
    if (typeof merchant !== 'string' || merchant.trim() === '') return answer(fail(400, 'missing_merchant_id'));
    let segments: string[];
    try {
      segments = rest.map(decodeURIComponent);
    } catch {
      return answer(fail(400, 'invalid_request', 'malformed percent-encoding in path'));
    }
    const call: ApiRequest = { method, segments, query: url.searchParams, headers: req.headers, body, merchant };
    answer(version === 'v1' ? handleV1Payments(state.store, call) : handleV2Payments(state.store, call));
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy(error instanceof Error ? error : undefined);
      else sendJson(res, { status: 500, body: { error: 'internal_error' }, headers: { 'x-backend': kind } });
    });
  });
  // Longer than the gateway's upstream idle timeout, so the backend never closes a socket the
  // gateway is about to reuse (the ECONNRESET race on keep-alive reuse). headersTimeout must
  // exceed keepAliveTimeout, or a slow request on a reused socket can be cut off.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return { kind, server, controls, state };
}
