// Runs one reference backend on its own:
//   node backends/main.ts legacy --port 9001 [--host 127.0.0.1] [--latency-ms 0] [--fail-rate 0]
// Prints `<kind> listening on http://<host>:<port>` once ready; SIGTERM/SIGINT close it, exit 0.
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createReferenceBackend } from './reference.ts';
import type { BackendKind } from './store.ts';

const USAGE = 'usage: node backends/main.ts <legacy|next> [--port N] [--host H] [--latency-ms MS] [--fail-rate 0..1]';
/** The ports of the SPEC §2 example configuration. */
const DEFAULT_PORTS: Record<BackendKind, number> = { legacy: 9001, next: 9002 };
/** Bound on the graceful close: connections still open after this are cut. */
const CLOSE_GRACE_MS = 5_000;

interface Settings {
  kind: BackendKind;
  port: number;
  host: string;
  latencyMs: number;
  failRate: number;
}

/** Reads the command line; throws an Error whose message says what is wrong. */
function readSettings(argv: string[]): Settings {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'latency-ms': { type: 'string', default: '0' },
      'fail-rate': { type: 'string', default: '0' },
    },
  });
  const [kind, ...extra] = positionals;
  if (kind !== 'legacy' && kind !== 'next') throw new Error(`backend kind must be legacy or next, got ${kind ?? 'nothing'}`);
  if (extra.length > 0) throw new Error(`unexpected argument ${extra[0]}`);
  // Number('') is 0, so empty strings are refused before converting.
  const number = (name: string, text: string): number => {
    const value = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got "${text}"`);
    return value;
  };
  const port = values.port === undefined ? DEFAULT_PORTS[kind] : number('port', values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port must be an integer from 0 to 65535`);
  const latencyMs = number('latency-ms', values['latency-ms']);
  if (latencyMs < 0) throw new Error('--latency-ms must be >= 0');
  const failRate = number('fail-rate', values['fail-rate']);
  if (failRate < 0 || failRate > 1) throw new Error('--fail-rate must be from 0 to 1');
  return { kind, port, host: values.host, latencyMs, failRate };
}

function main(): void {
  let settings: Settings;
  try {
    settings = readSettings(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const { kind, port, host, latencyMs, failRate } = settings;
  const { server } = createReferenceBackend({ kind, latencyMs, failRate });

  server.on('error', (error) => {
    console.error(`${kind}: cannot listen on ${host}:${port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const { port: bound } = server.address() as AddressInfo;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    console.log(`${kind} listening on http://${shownHost}:${bound}`);
  });

  const shutdown = (): void => {
    server.close(() => process.exit(0));
    // close() alone waits for keep-alive sockets; idle ones can go now, busy ones get a grace period.
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main();
