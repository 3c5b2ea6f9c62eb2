/**
 * Receive: read a request body into memory under a size limit, check its
 * media type, its UTF-8 and its JSON. The raw bytes are kept so that the
 * backend receives exactly what the merchant sent.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

export interface ReadBody { raw: Buffer; json: unknown }

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

const EMPTY = Buffer.alloc(0);

/** True when the request carries a body (RFC 9112 section 6.3). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * 413 that also closes the connection: the rest of an oversized body is never
 * read into the gateway, and a keep-alive connection cannot be reused while
 * unread body bytes sit in it.
 */
function tooLarge(limit: number): GatewayError {
  return new GatewayError('payload_too_large', { message: `The body is over ${limit} bytes`, headers: { connection: 'close' } });
}

/** Reads the whole body, or fails with 413 as soon as it is over `limit` bytes. */
export function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  // No Content-Length and no Transfer-Encoding: no body (RFC 9112 6.3); nothing to wait for.
  if (!hasBody(req)) return Promise.resolve(EMPTY);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData); req.off('end', onEnd); req.off('error', onError); req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => { cleanup(); resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)); };
    const onError = (err: Error) => { cleanup(); reject(new GatewayError('bad_request', { message: 'The body could not be read', cause: err })); };
    const onAborted = () => onError(new Error('client aborted'));
    req.on('data', onData); req.on('end', onEnd); req.on('error', onError); req.on('aborted', onAborted);
  });
}

/** Only JSON (optionally with charset utf-8) is accepted on modelled calls. */
export function checkJsonMediaType(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (type === undefined) throw new GatewayError('unsupported_media_type', { message: 'Content-Type: application/json is required' });
  const [essence, ...params] = type.split(';').map((s) => s.trim().toLowerCase());
  const charsetOk = params.every((p) => !p.startsWith('charset=') || p === 'charset=utf-8' || p === 'charset="utf-8"');
  if (essence !== 'application/json' || !charsetOk) {
    throw new GatewayError('unsupported_media_type', { message: `Content-Type must be application/json (UTF-8), got "${type}"` });
  }
}

/** Decodes and parses a JSON body; an empty body reads as `{}` only when `allowEmpty`. */
export function parseJson(raw: Buffer, allowEmpty: boolean): unknown {
  if (raw.length === 0) {
    if (allowEmpty) return {};
    throw new GatewayError('invalid_json', { message: 'The body is empty; a JSON object is required' });
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch (err) {
    throw new GatewayError('invalid_json', { message: 'The body is not valid UTF-8', cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new GatewayError('invalid_json', { message: `The body is not valid JSON: ${(err as Error).message}`, cause: err });
  }
}
