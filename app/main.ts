/**
 * The gateway process: read config, open the store, build, listen, and
 * drain on SIGTERM. Nothing else lives here.
 */
import { ConfigError, loadConfig } from '../gateway/config.ts';
import { buildApp } from './build.ts';
import { createLogger } from '../gateway/log.ts';
import { createServer, drain, listen } from '../gateway/data/server.ts';
import { openStore } from '../gateway/store/open.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cutover: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const store = await openStore(config, log);
  const gw = buildApp({ config, store, log });
  await gw.start();
  const data = createServer(gw.dataApp, config.limits);
  const admin = createServer(gw.adminApp, config.limits);
  const port = await listen(data, config.listen.port, config.listen.host);
  const adminPort = await listen(admin, config.listen.adminPort, config.listen.host);
  log.info({ port, adminPort, store: store.kind, rulesVersion: gw.live.state.rules.version }, 'cutover gateway listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    gw.drain();
    await drain(data, config.limits.drainTimeoutMs);
    await drain(admin, 1000);
    await gw.stop();
    await store.close();
    log.info('stopped');
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`cutover: failed to start: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
