/** Opens the store the configuration names: Redis when a URL is set, else the embedded one (with a warning). */
import { pinTtlMs as ttlOf, type Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { Store } from './types.ts';

export async function openStore(config: Readonly<Config>, log: Logger): Promise<Store> {
  const pinTtlMs = ttlOf(config);
  const { url, cluster, sentinel } = config.redis;
  const connection = url ? { url } : cluster ? { cluster } : sentinel ? { sentinel } : undefined;
  if (!connection) {
    log.warn('no REDIS_URL, redis.url, redis.cluster or redis.sentinel set: using the embedded in-memory store (single instance only; state is lost on exit)');
    return new MemoryStore({ pinTtlMs });
  }
  let lastError = '';
  return RedisStore.connect({
    ...connection, prefix: config.redis.keyPrefix, commandTimeoutMs: config.redis.commandTimeoutMs, waitReplicas: config.redis.waitReplicas,
    pinTtlMs, pinBuckets: config.redis.pinBuckets, backends: Object.keys(config.backends),
    onError: (err) => {
      if (err.message !== lastError) log.warn({ err: err.message }, 'redis connection error');
      lastError = err.message;
    },
  });
}
