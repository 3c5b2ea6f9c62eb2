/**
 * `npm run demo`: both reference backends and the gateway (embedded store),
 * a merchant flag for the flagged demo merchant, and three curl lines to try.
 * Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const node = process.execPath;
const children: ChildProcess[] = [];
const TOKEN = 'demo-admin-token-change-me';

function start(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(node, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) { console.error(`demo: ${args.join(' ')} exited (${code ?? signal}); stopping`); stop(1); }
  });
  return child;
}

async function waitFor(url: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try { if ((await fetch(url)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready`);
}

let stopping = false;
function stop(code = 0): void {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 500).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

start(['backends/main.ts', 'legacy', '--port', '9001']);
start(['backends/main.ts', 'next', '--port', '9002']);
await Promise.all([waitFor('http://127.0.0.1:9001/_health'), waitFor('http://127.0.0.1:9002/_health')]);
start(['app/main.ts'], { CUTOVER_CONFIG: 'demo/cutover.yaml', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', REDIS_URL: '' });
await waitFor('http://127.0.0.1:8081/readyz');
const flag = await fetch('http://127.0.0.1:8081/admin/merchants/M-FLAGGED', {
  method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  body: JSON.stringify({ backend: 'next', comment: 'demo: this merchant has moved to the new system' }),
});
if (!flag.ok) throw new Error(`could not set the demo merchant flag: ${flag.status}`);

console.log(`
Cutover demo is running: gateway http://127.0.0.1:8080 (admin :8081, token ${TOKEN})
legacy backend :9001 (v1), next backend :9002 (v1, v2). Try (look at X-Cutover-Backend):

  curl -si -X POST http://127.0.0.1:8080/api/v1/payments -H 'X-Merchant-Id: M-100' -H 'Content-Type: application/json' -d '{"out_trade_no":"A-1","total_amount":"12.34","currency":"CNY","subject":"tea"}'
  curl -si -X POST http://127.0.0.1:8080/api/v2/payments -H 'X-Merchant-Id: M-100' -H 'Idempotency-Key: k-1' -H 'Content-Type: application/json' -d '{"merchantOrderId":"B-1","amount":{"value":1234,"currency":"CNY"},"description":"tea"}'
  curl -si -X POST http://127.0.0.1:8080/api/v1/payments -H 'X-Merchant-Id: M-FLAGGED' -H 'Content-Type: application/json' -d '{"out_trade_no":"C-1","total_amount":"12.34","currency":"CNY","subject":"tea"}'

Why a request went where it did: curl -s -H 'Authorization: Bearer ${TOKEN}' 'http://127.0.0.1:8081/admin/explain?apiVersion=v1&merchant=M-100&orderId=A-1'
Ctrl-C stops the demo.
`);
await once(process, 'beforeExit');
