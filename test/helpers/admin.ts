/** Calls to a gateway's admin API with a bearer token: over its admin port (`admin`), or in-process with supertest (`adminApi`). */
import request from 'supertest';
import { ADMIN_TOKEN, type RunningGateway } from './stack.ts';

/** An admin answer: the status, the headers and the body (parsed when JSON, null when empty, else the text). */
export interface AdminAnswer { status: number; headers: Headers; body: any }

/**
 * `method path` on `gw`'s admin port with the full-rights token (or
 * `opts.token`) and `body` as JSON; `opts.headers` are added last.
 */
export async function admin(
  gw: Pick<RunningGateway, 'adminUrl'>, method: string, path: string, body?: unknown,
  opts: { token?: string; headers?: Record<string, string> } = {},
): Promise<AdminAnswer> {
  const res = await fetch(`${gw.adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${opts.token ?? ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = /\bjson\b/.test(res.headers.get('content-type') ?? '');
  return { status: res.status, headers: res.headers, body: text === '' ? null : json ? JSON.parse(text) : text };
}

/**
 * supertest on `gw`'s admin express app, in-process, sending the full-rights
 * token (or `token`) with every request: `await adminApi(gw).get('/admin/rules').expect(200)`.
 */
export function adminApi(gw: Pick<RunningGateway, 'gw'>, token = ADMIN_TOKEN) {
  return request.agent(gw.gw.adminApp).set('authorization', `Bearer ${token}`);
}
