import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { createLogger, logRequest } from '../gateway/log.ts';

function sink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) { for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l)); done(); },
  });
  return { lines, stream };
}

const line = { requestId: 'req-1', merchant: 'M-"quoted"', method: 'GET', path: '/api/v1/payments/pay_1', backend: 'legacy', reason: 'pinned', status: 200, durationMs: 1.5 };

test('at info the access line is a pino line of its own, fields as given; at warn it is not written', async () => {
  const info = sink();
  logRequest(createLogger('info', info.stream), line);
  const warn = sink();
  const quiet = createLogger('warn', warn.stream);
  logRequest(quiet, line);
  quiet.warn({ code: 'pin_store_unavailable' }, 'refused');
  await new Promise((r) => setImmediate(r));
  assert.equal(info.lines.length, 1);
  const [written] = info.lines;
  assert.equal(written.level, 30);
  assert.equal(written.service, 'cutover');
  assert.equal(written.msg, 'request');
  assert.ok(!Number.isNaN(Date.parse(written.time as string)));
  for (const [k, v] of Object.entries(line)) assert.equal(written[k], v, k);
  assert.deepEqual(warn.lines.map((l) => l.msg), ['refused']);
});

test('lines still gathered on stdout when the process exits are written, in order', () => {
  const script = `
    import { createLogger, logRequest } from ${JSON.stringify(new URL('../gateway/log.ts', import.meta.url).href)};
    const log = createLogger('info');
    log.info('first');
    for (let i = 0; i < 500; i++) logRequest(log, { requestId: 'r' + i, status: 200, durationMs: 1 });
    log.warn('last');
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const msgs = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; requestId?: string });
  assert.equal(msgs.length, 502);
  assert.equal(msgs[0].msg, 'first');
  assert.deepEqual(msgs.slice(1, 501).map((m) => m.requestId), Array.from({ length: 500 }, (_, i) => `r${i}`));
  assert.equal(msgs[501].msg, 'last');
});
