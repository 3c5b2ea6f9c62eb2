import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { orderId, startBackends, testConfig, v1Create, type Backends } from './helpers/stack.ts';

// SPEC 7: SIGTERM drains: stop accepting, finish in-flight requests (bounded), close the
// store, exit 0. The real process (`node app/main.ts`), backends in this process.

const ROOT = new URL('..', import.meta.url).pathname;

interface Child { proc: ChildProcess; port: number; adminPort: number; lines: Array<Record<string, unknown>>; exit: Promise<number | null> }

async function startProcess(backends: Backends, limits: Record<string, number>): Promise<Child> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-drain-'));
  const file = join(dir, 'cutover.yaml');
  writeFileSync(file, stringify(testConfig(backends.urls, { logLevel: 'info', limits })));
  const proc = spawn(process.execPath, ['app/main.ts'], {
    cwd: ROOT, env: { ...process.env, CUTOVER_CONFIG: file, PORT: '', ADMIN_PORT: '', REDIS_URL: '', LOG_LEVEL: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffered = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buffered += c.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        if (line.msg === 'cutover gateway listening') resolve(line);
      }
    });
    void exit.then((code) => reject(new Error(`gateway exited with ${code} before listening: ${stderr}`)));
  });
  const ready = await listening;
  return { proc, port: ready.port as number, adminPort: ready.adminPort as number, lines, exit };
}

/** Resolves once a log line with `msg` has been written. */
async function logged(child: Child, msg: string): Promise<void> {
  while (!child.lines.some((l) => l.msg === msg)) await new Promise((r) => setTimeout(r, 10));
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

let backends: Backends;
const children: Child[] = [];
before(async () => { backends = await startBackends(); });
after(async () => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  backends.legacy.controls.latencyMs = 0;
  await backends.close();
});

test('in-flight requests finish with 200, new connections are refused, exit code 0', async () => {
  const child = await startProcess(backends, { drainTimeoutMs: 8000 });
  children.push(child);
  const base = `http://127.0.0.1:${child.port}`;
  backends.legacy.controls.latencyMs = 500;
  const before = backends.legacy.state.requests;
  const inFlight = [
    fetch(`${base}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-DRAIN' } }),
    fetch(`${base}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-DRAIN' } }),
    fetch(`${base}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': 'M-DRAIN' }, body: JSON.stringify(v1Create(orderId())) }),
  ];
  while (backends.legacy.state.requests < before + inFlight.length) await new Promise((r) => setTimeout(r, 10));

  const signalled = Date.now();
  child.proc.kill('SIGTERM');
  await logged(child, 'draining');
  assert.ok(await connectionRefused(child.port), 'the data port no longer accepts connections');
  const ready = await fetch(`http://127.0.0.1:${child.adminPort}/readyz`);
  assert.equal(ready.status, 503, 'readyz says draining while requests finish');
  assert.equal((await ready.json()).draining, true);

  const answers = await Promise.all(inFlight);
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200]);
  assert.match((await answers[2].json()).trade_no, /^\d+$/);
  assert.equal(await child.exit, 0);
  assert.ok(child.lines.some((l) => l.msg === 'stopped'));
  // Kept-alive connections must not hold the process until the drain bound.
  assert.ok(Date.now() - signalled < 8000, 'exited when the work was done, not at drainTimeoutMs');
});

test('the drain is bounded by limits.drainTimeoutMs: a request slower than that is cut and the process still exits 0', async () => {
  const child = await startProcess(backends, { drainTimeoutMs: 200 });
  children.push(child);
  backends.legacy.controls.latencyMs = 1500;
  const before = backends.legacy.state.requests;
  const slow = fetch(`http://127.0.0.1:${child.port}/api/v1/echo`, { headers: { 'x-merchant-id': 'M-DRAIN' } }).then((r) => r.status, () => 'cut');
  while (backends.legacy.state.requests < before + 1) await new Promise((r) => setTimeout(r, 10));
  child.proc.kill('SIGTERM');
  assert.equal(await child.exit, 0);
  assert.equal(await slow, 'cut', 'the connection was closed without an answer');
  backends.legacy.controls.latencyMs = 0;
});
