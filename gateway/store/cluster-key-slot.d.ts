/** Types of cluster-key-slot (installed with ioredis): the Redis Cluster slot of a key. */
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number;
}
