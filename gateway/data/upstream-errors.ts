/**
 * The one place where upstream transport failures become gateway errors
 * (SPEC 7): timeout = 504, no connection = 502 backend_unreachable, a
 * connection lost mid-exchange = 502 backend_error. The original stays as `cause`.
 */
import { GatewayError } from '../errors.ts';

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ECONNABORTED', 'UND_ERR_CONNECT_TIMEOUT']);

export function mapUpstreamError(err: unknown, ctx: { backend: string; timedOut: boolean; timeoutMs: number }): GatewayError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (ctx.timedOut || code === 'ETIMEDOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new GatewayError('backend_timeout', { message: `Backend "${ctx.backend}" did not answer within ${ctx.timeoutMs} ms`, cause: err });
  }
  if (UNREACHABLE.has(code)) {
    return new GatewayError('backend_unreachable', { message: `Backend "${ctx.backend}" could not be reached`, cause: err });
  }
  return new GatewayError('backend_error', { message: `The connection to backend "${ctx.backend}" failed`, cause: err });
}

/**
 * Failures after which an idempotent request may be sent once more (RFC 9110
 * 9.2.2): no connection, or a connection lost before any answer (typically a
 * keep-alive socket the backend closed as it was reused). Not a timeout: the
 * backend may still be working on it, and a second wait would double the
 * merchant's. Requests with a body are never retried, whatever the failure.
 */
export function retryableFailure(err: GatewayError): boolean {
  return err.code === 'backend_unreachable' || err.code === 'backend_error';
}
