/** Header reading with the checks a proxy needs: single occurrence, shape, no joined duplicates. */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

/** Occurrences of a header in the raw header list (Node joins duplicates with ", "). */
function occurrences(req: IncomingMessage, lower: string): number {
  let n = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === lower.length && raw[i].toLowerCase() === lower) n++;
  return n;
}

/**
 * The value of a header that must appear at most once and match `shape`;
 * undefined when absent. Sent twice = 400 duplicate_header: routing on the
 * joined "a, b" would route on a value nobody sent.
 */
export function singleHeader(req: IncomingMessage, name: string, shape: RegExp): string | undefined {
  const lower = name.toLowerCase();
  const value = req.headers[lower];
  if (value === undefined) return undefined;
  if (Array.isArray(value) || occurrences(req, lower) > 1) {
    throw new GatewayError('duplicate_header', { message: `${name} must be sent once` });
  }
  if (!shape.test(value)) throw new GatewayError('invalid_header', { message: `${name} is not valid (expected ${shape.source})` });
  return value;
}

/** Case-insensitive single header read for rule matching (first value of a list). */
export function headerValue(req: IncomingMessage, lower: string): string | undefined {
  const v = req.headers[lower];
  return Array.isArray(v) ? v[0] : v;
}
