/**
 * Receive: read a request body into memory under a size limit, check its
 * media type, its UTF-8 and its JSON. Modelled bodies are read strictly
 * (one reading, SPEC 10): no BOM, no duplicate keys, numbers as written.
 */
import type { IncomingMessage } from 'node:http';
import { parse as parseLossless, isInteger } from 'lossless-json';
import { GatewayError } from '../errors.ts';
import { singleHeader } from './headers.ts';

// ignoreBOM: keep a BOM in the text, so that it is refused rather than silently dropped.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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

const ANY_TYPE = /^[\s\S]*$/;

/**
 * Only JSON (optionally with charset utf-8) is accepted on modelled calls, in
 * exactly one Content-Type (a second one would be read by the backend, not by
 * the check).
 */
export function checkJsonMediaType(req: IncomingMessage): void {
  const type = singleHeader(req, 'content-type', ANY_TYPE);
  if (type === undefined) throw new GatewayError('unsupported_media_type', { message: 'Content-Type: application/json is required' });
  const [essence, ...params] = type.split(';').map((s) => s.trim().toLowerCase());
  const charsetOk = params.every((p) => !p.startsWith('charset=') || p === 'charset=utf-8' || p === 'charset="utf-8"');
  if (essence !== 'application/json' || !charsetOk) {
    throw new GatewayError('unsupported_media_type', { message: `Content-Type must be application/json (UTF-8), got "${type}"` });
  }
}

/**
 * A JSON number as the validator sees it. Integer spelling within the safe
 * range becomes a number, so "integer" and "maximum" are checked on the exact
 * value; anything else (1e3, 100.0, 0.99999999999999999, digits beyond 2^53)
 * stays a string-holding object that no numeric schema accepts. Every field
 * of the merchant API is an integer, so no float is ever needed; and a value
 * that was never a number cannot be re-serialised as a rounded one.
 */
function readNumber(spelling: string): unknown {
  if (isInteger(spelling)) {
    const n = Number(spelling);
    if (Number.isSafeInteger(n) && spelling !== '-0') return n;
  }
  return { number: spelling };
}

/**
 * Decodes and parses a JSON body strictly (RFC 8259, read with lossless-json):
 * no BOM (8.1), no key sent twice with different values (section 4 leaves the
 * reading to each parser), numbers exactly as written. An empty body reads as
 * `{}` only when `allowEmpty`.
 */
export function parseJson(raw: Buffer, allowEmpty: boolean): unknown {
  if (raw.length === 0) {
    if (allowEmpty) return {};
    throw new GatewayError('invalid_json', { message: 'The body is empty; a JSON object is required' });
  }
  if (raw.length >= 3 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) {
    throw new GatewayError('invalid_json', { message: 'The body must not begin with a byte order mark (RFC 8259 8.1)' });
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch (err) {
    throw new GatewayError('invalid_json', { message: 'The body is not valid UTF-8', cause: err });
  }
  try {
    return parseLossless(text, null, readNumber);
  } catch (err) {
    // The reader is recursive: a body nested deeper than the stack allows is refused, not parsed.
    if (err instanceof RangeError) throw new GatewayError('invalid_json', { message: 'The body is nested too deeply', cause: err });
    throw new GatewayError('invalid_json', { message: `The body is not valid JSON: ${(err as Error).message}`, cause: err });
  }
}
