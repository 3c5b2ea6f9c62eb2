import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderId, useStack, v1Create } from './helpers/stack.ts';

// No input crashes the process, and nothing invalid reaches a backend (SPEC 4 step 2, SPEC 10).
// The body limit is raised to 2 MiB here so that the megabyte-sized inputs reach the parser.

const stack = useStack(() => ({ overrides: { limits: { bodyBytes: 2 * 1024 * 1024 } } }));

const forwarded = () => stack.backends.legacy.state.requests + stack.backends.next.state.requests;

async function create(body: string | Uint8Array, contentType: string | undefined = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'x-merchant-id': 'M-BODY' };
  if (contentType !== undefined) headers['content-type'] = contentType;
  const res = await fetch(`${stack.gw.url}/api/v1/payments`, { method: 'POST', headers, body: body as BodyInit });
  return { status: res.status, json: await res.json() };
}

/** Asserts a refusal with `status`/`code`, that nothing was forwarded, and that the gateway still serves. */
async function refused(send: () => Promise<{ status: number; json: Record<string, unknown> }>, status: number, code: string): Promise<Record<string, unknown>> {
  const before = forwarded();
  const { status: got, json } = await send();
  assert.equal(got, status, JSON.stringify(json));
  assert.equal(json.error, code);
  assert.equal(typeof json.requestId, 'string');
  assert.equal(forwarded(), before, 'nothing reached a backend');
  const ok = await create(JSON.stringify(v1Create(orderId())));
  assert.equal(ok.status, 200, 'the gateway still serves a valid create');
  return json;
}

test('malformed JSON is 400 invalid_json', async () => {
  await refused(() => create('{"out_trade_no": "A-1", '), 400, 'invalid_json');
  await refused(() => create(''), 400, 'invalid_json');
});

test('{} on create is 400 invalid_request with details naming the missing fields', async () => {
  const json = await refused(() => create('{}'), 400, 'invalid_request');
  const details = json.details as Array<{ path: string; message: string }>;
  assert.ok(Array.isArray(details) && details.length > 0);
  assert.ok(details.some((d) => /out_trade_no/.test(d.message) || /out_trade_no/.test(d.path)), JSON.stringify(details));
});

test('JSON that is not an object is 400 invalid_request', async () => {
  for (const body of ['[]', 'null', '"text"', '1e999', 'true']) await refused(() => create(body), 400, 'invalid_request');
});

test('unknown fields and prototype keys are 400 invalid_request', async () => {
  await refused(() => create(JSON.stringify({ ...v1Create(orderId()), extra: 1 })), 400, 'invalid_request');
  await refused(() => create(`{"__proto__": {"admin": true}, ${JSON.stringify(v1Create(orderId())).slice(1)}`), 400, 'invalid_request');
});

test('wrong or missing content types are 415 unsupported_media_type', async () => {
  const body = JSON.stringify(v1Create(orderId()));
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/jsonx', 'multipart/form-data; boundary=x']) {
    await refused(() => create(body, type), 415, 'unsupported_media_type');
  }
  await refused(() => fetch(`${stack.gw.url}/api/v1/payments`, { method: 'POST', headers: { 'x-merchant-id': 'M-BODY' }, body: new TextEncoder().encode(body) })
    .then(async (r) => ({ status: r.status, json: await r.json() })), 415, 'unsupported_media_type');
});

test('1 MB of nested brackets is refused without harm, unbalanced or balanced', async () => {
  const depth = 512 * 1024;
  await refused(() => create('['.repeat(depth * 2)), 400, 'invalid_json');
  // Balanced but deeper than the strict reader goes: refused as unreadable JSON, before the schema.
  await refused(() => create('['.repeat(depth) + ']'.repeat(depth)), 400, 'invalid_json');
  await refused(() => create(`{"out_trade_no": ${'['.repeat(depth)}${']'.repeat(depth)}}`), 400, 'invalid_json');
});

test('invalid UTF-8 is 400 invalid_json', async () => {
  const valid = JSON.stringify(v1Create(orderId()));
  const broken = Buffer.concat([Buffer.from(valid.slice(0, -2)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
  await refused(() => create(broken), 400, 'invalid_json');
  await refused(() => create(Buffer.from([0xed, 0xa0, 0x80])), 400, 'invalid_json'); // an encoded UTF-16 surrogate
});
