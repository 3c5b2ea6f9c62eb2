/**
 * Reading the gateway's Prometheus histograms from /metrics: bucket counts
 * summed over the label sets asked for, the difference between two
 * readings, and quantiles from it (linear within a bucket, as Prometheus's
 * histogram_quantile does).
 */

/** Cumulative counts by upper bound (seconds; Infinity for +Inf). */
export type Buckets = Map<number, number>;

/**
 * The buckets of histogram `name` in exposition `text`, summed over every
 * series whose labels include `labels`.
 */
export function bucketsOf(text: string, name: string, labels: Record<string, string> = {}): Buckets {
  const out: Buckets = new Map();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const close = line.lastIndexOf('}');
    const body = line.slice(prefix.length, close);
    const got: Record<string, string> = {};
    for (const [, k, v] of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[k] = v;
    if (!Object.entries(labels).every(([k, v]) => got[k] === v)) continue;
    const le = got.le === '+Inf' ? Infinity : Number(got.le);
    out.set(le, (out.get(le) ?? 0) + Number(line.slice(close + 1).trim()));
  }
  return out;
}

/** `after` minus `before`, bucket by bucket. */
export function minus(after: Buckets, before: Buckets): Buckets {
  return new Map([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]));
}

/** Adds `b` into `a`. */
export function addInto(a: Buckets, b: Buckets): Buckets {
  for (const [le, n] of b) a.set(le, (a.get(le) ?? 0) + n);
  return a;
}

/** Observations counted. */
export function countOf(b: Buckets): number {
  return b.get(Infinity) ?? 0;
}

/**
 * The q-quantile in milliseconds, interpolated within its bucket; the
 * highest finite bound when it falls in +Inf; undefined with no observations.
 */
export function quantileMs(b: Buckets, q: number): number | undefined {
  const total = countOf(b);
  if (total === 0) return undefined;
  const rank = q * total;
  const bounds = [...b.keys()].sort((x, y) => x - y);
  let lower = 0;
  let below = 0;
  for (const le of bounds) {
    const n = b.get(le)!;
    if (n >= rank) {
      if (le === Infinity) return lower * 1000;
      const inBucket = n - below;
      const at = inBucket === 0 ? 1 : (rank - below) / inBucket;
      return Math.round((lower + (le - lower) * at) * 1e6) / 1000;
    }
    lower = le;
    below = n;
  }
  return lower * 1000;
}
