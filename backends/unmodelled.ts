// Endpoints under /api/vN/ that the gateway does not model (SPEC §3: proxied by the rules, without
// pinning). They exist for gateway tests: `echo` shows what was forwarded, `stream` checks that
// large bodies flow through without buffering.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail, type Reply } from './http.ts';

/** Largest body `stream` agrees to send: 100 MiB. */
export const STREAM_MAX_BYTES = 100 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
// One shared chunk: it is never modified, so writing it many times over is safe.
const CHUNK = Buffer.alloc(CHUNK_BYTES, 'x');

/** `{method, path, headers, body}` exactly as received: path with its query, body as raw text. */
export function echo(req: IncomingMessage, body: string): Reply {
  return { status: 200, body: { method: req.method, path: req.url, headers: req.headers, body } };
}

/** Reads `?bytes=N` (0..STREAM_MAX_BYTES); a 400 reply when it is missing or out of range. */
export function streamLength(query: URLSearchParams): number | Reply {
  const text = query.get('bytes') ?? '';
  const bytes = /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(bytes <= STREAM_MAX_BYTES)) return fail(400, 'invalid_request', `bytes must be an integer from 0 to ${STREAM_MAX_BYTES}`);
  return bytes;
}

/**
 * Sends `bytes` bytes of 'x' with Transfer-Encoding: chunked (no Content-Length), 64 KiB per
 * write, waiting for 'drain' whenever the socket buffer is full. Stops if the client goes away.
 */
export async function sendStream(res: ServerResponse, bytes: number, headers: Record<string, string>): Promise<void> {
  res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' });
  let left = bytes;
  while (left > 0) {
    if (res.destroyed) return;
    const size = Math.min(left, CHUNK_BYTES);
    left -= size;
    if (!res.write(size === CHUNK_BYTES ? CHUNK : CHUNK.subarray(0, size)) && !(await drained(res))) return;
  }
  res.end();
}

/** True on 'drain', false if the response closes first; both listeners are removed either way. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean) => (): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
