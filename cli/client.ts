/**
 * The admin API as the `cutover` CLI calls it: one JSON request at a time
 * with the Bearer token, gateway errors turned into ApiError.
 */

/** The gateway refused (its `error` code and message), or could not be reached (`unreachable`). */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;
  constructor(code: string, message: string, status: number, details?: unknown) {
    super(message);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** A wrong command line: nothing was sent. */
export class UsageError extends Error {}

export interface Answer { status: number; etag: string | null; body: any }

const TIMEOUT_MS = 15_000;

export class AdminClient {
  readonly #base: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new UsageError(`--url: not a URL: ${baseUrl}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url: must be http or https: ${baseUrl}`);
    this.#base = url.href.replace(/\/+$/, '');
    this.#token = token;
  }

  async request(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError('unreachable', `cannot reach ${this.#base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, 0);
    }
    const text = await res.text();
    let body: any;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      throw new ApiError('bad_answer', `${method} ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, res.status);
    }
    if (!res.ok) {
      throw new ApiError(body?.error ?? `http_${res.status}`, body?.message ?? `${method} ${path} answered ${res.status}`, res.status, body?.details);
    }
    return { status: res.status, etag: res.headers.get('etag'), body };
  }

  get(path: string) { return this.request('GET', path); }
  put(path: string, body: unknown, headers?: Record<string, string>) { return this.request('PUT', path, { body, headers }); }
  post(path: string, body?: unknown) { return this.request('POST', path, { body: body ?? {} }); }
  delete(path: string) { return this.request('DELETE', path); }
}

/** A path segment, percent-encoded (merchant and transaction ids go into paths). */
export const seg = (s: string) => encodeURIComponent(s);
