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

/**
 * Refuses (400 invalid_header) a header whose name, with "_" read as "-", is
 * one the gateway routes on (`routed`, lower-case) but is not spelled so:
 * CGI/WSGI backends fold "X_Merchant_Id" and "X-Merchant-Id" into one
 * variable, so the backend could act on a merchant or key the gateway never
 * read. Other "_" names are dropped when forwarded (proxy.ts).
 */
export function refuseUnderscoredRouted(req: IncomingMessage, routed: readonly string[]): void {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (!name.includes('_')) continue;
    const folded = name.toLowerCase().replaceAll('_', '-');
    if (routed.includes(folded)) throw new GatewayError('invalid_header', { message: `${name} is refused: backends may read it as ${folded}` });
  }
}

/** Case-insensitive single header read for rule matching (first value of a list). */
export function headerValue(req: IncomingMessage, lower: string): string | undefined {
  const v = req.headers[lower];
  return Array.isArray(v) ? v[0] : v;
}

/** A Host value's parts: the host as sent and the port, when it names one. */
export interface HostParts { host: string; port?: string }

/**
 * RFC 9110 7.2 / RFC 3986 3.2.2-3.2.3: uri-host [":" port]. The host is an
 * IP literal in brackets or a name of letters, digits and "-._~" (no
 * percent-encoding, sub-delims, "@", "/" or "?": nothing a reader could split
 * elsewhere); the port is 0-65535 in at most five digits.
 */
const HOST = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._~-]{1,253})(?::([0-9]{1,5}))?$/;

/** The parts of a valid Host value, or undefined when it is not one. */
export function parseHost(value: string): HostParts | undefined {
  const m = HOST.exec(value);
  if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) return undefined;
  return { host: m[1], port: m[2] };
}

/**
 * RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host, and a server
 * answers 400 to one with none, several, or an invalid value. HTTP/1.0 may
 * omit it, but one that is sent is held to the same rules. Returns the
 * problem, or undefined when the request's Host is acceptable.
 */
export function hostProblem(req: IncomingMessage): string | undefined {
  const n = occurrences(req, 'host');
  if (n > 1) return 'Host must be sent once';
  if (n === 0) return req.httpVersionMajor === 1 && req.httpVersionMinor === 0 ? undefined : 'Host is required on HTTP/1.1';
  return parseHost(req.headers.host ?? '') === undefined ? 'Host is not a valid host[:port]' : undefined;
}
