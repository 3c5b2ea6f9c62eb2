/** The split bucket of SPEC section 4: murmur3_x86_32(salt + ":" + key, seed 0) mod 10000. */
import murmur from 'murmurhash';

export const BUCKETS = 10_000;

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of `text`, as an unsigned integer. */
export function murmur3_x86_32(text: string, seed = 0): number {
  return murmur.v3(text, seed);
}

/** Bucket 0..9999 of a key under a rule's salt. */
export function bucketOf(salt: string, key: string): number {
  return murmur3_x86_32(`${salt}:${key}`, 0) % BUCKETS;
}
