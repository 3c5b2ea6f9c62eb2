/**
 * Every call the console makes goes through the admin API with the
 * operator's Bearer token (SPEC 6); nothing is cached by the browser.
 */

/** An answer other than 2xx: `code` is the gateway's stable error code (SPEC 3). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? `http_${status}`;
    this.details = body?.details;
    this.body = body;
  }
}

/** An API client bound to a token; `onUnauthorized` runs when the token stops being accepted. */
export function createApi(token, onUnauthorized = () => {}) {
  async function call(method, path, { body, headers } = {}) {
    const res = await fetch(path, {
      method,
      cache: 'no-store',
      credentials: 'omit',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { message: text.slice(0, 200) }; }
    if (res.status === 401) onUnauthorized();
    if (!res.ok) throw new ApiError(res.status, data);
    return { data, etag: res.headers.get('etag') };
  }
  return {
    get: async (path) => (await call('GET', path)).data,
    call,
    /** A file the API serves (e.g. a CSV) as a Blob, for a download link the token cannot ride on. */
    async blob(path) {
      const res = await fetch(path, { cache: 'no-store', credentials: 'omit', headers: { authorization: `Bearer ${token}` } });
      if (res.status === 401) onUnauthorized();
      if (!res.ok) { let data = null; try { data = await res.json(); } catch { /* not JSON */ } throw new ApiError(res.status, data); }
      return res.blob();
    },
  };
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A path segment, encoded. */
export const seg = (s) => encodeURIComponent(s);
