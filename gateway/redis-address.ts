/** The parts of a `redis://` or `rediss://` URL the store connects with (also checked by the config). */
export interface Address { host: string; port: number; username?: string; password?: string; tls: boolean; path: string }

/** Host, port, credentials and TLS of a `redis://` or `rediss://` URL; throws on a malformed one. */
export function address(url: string): Address {
  const u = new URL(url);
  if (!u.hostname) throw new Error('names no host');
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 6379), tls: u.protocol === 'rediss:', path: u.pathname,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}), ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}
