/**
 * The weighted split: murmur3_x86_32(salt:key) mod 10000, consecutive bucket
 * ranges in listed order. Shares follow the weights, a key always lands on
 * the same side, and raising the first weight only ever moves keys onto it.
 * Also the ruleset validator's semantic checks, each reported with a path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf, murmur3_x86_32, BUCKETS } from '../gateway/bucket.ts';
import { compileRules, rulesetProblems, type Rule, type RouteInput, type Ruleset } from '../gateway/rules.ts';
import { buildConfig } from '../gateway/config.ts';

const { backends } = buildConfig({
  backends: {
    legacy: { url: 'http://127.0.0.1:9001', apiVersions: ['v1'] },
    next: { url: 'http://127.0.0.1:9002', apiVersions: ['v1', 'v2'] },
  },
  pins: { unpinned: [{ backend: 'legacy' }] },
});

const V2_TO_NEXT: Rule = { name: 'v2-to-next', match: { apiVersion: 'v2' }, backend: 'next' };

function canary(weight: number, extra: Partial<Rule> = {}): Ruleset {
  return {
    rules: [{ name: 'v1-canary', match: { apiVersion: 'v1' }, split: [{ backend: 'next', weight }, { backend: 'legacy', weight: 100 - weight }], stickyBy: 'merchant', ...extra }, V2_TO_NEXT],
    default: 'legacy',
  };
}

const input = (merchant: string, orderId?: string): RouteInput => ({
  apiVersion: 'v1', merchant, method: 'POST', path: '/api/v1/payments', orderId, header: () => undefined,
});

const KEYS = Array.from({ length: 100_000 }, (_, i) => `M${i}`);

test('murmur3_x86_32 matches the reference test vectors', () => {
  const vectors: [string, number, number][] = [
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['hello', 0, 0x248bfa47],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['ππππππππ', 0x9747b28c, 0xd58063c1], // UTF-8 bytes, not UTF-16 code units
  ];
  for (const [text, seed, want] of vectors) assert.equal(murmur3_x86_32(text, seed), want, JSON.stringify(text));
  assert.equal(murmur3_x86_32('hello'), 613153351);
});

test('the bucket is murmur3_x86_32(salt + ":" + key, 0) mod 10000', () => {
  assert.equal(bucketOf('v1-canary', 'M-1001'), murmur3_x86_32('v1-canary:M-1001', 0) % BUCKETS);
  assert.equal(bucketOf('The quick brown fox', 'jumps'), murmur3_x86_32('The quick brown fox:jumps') % BUCKETS);
  // Pinned values: a change here moves live merchants between backends.
  assert.equal(bucketOf('v1-canary', 'M-1001'), 5093);
  assert.equal(bucketOf('v1-canary', 'ORD-1'), 3688);
  for (const key of KEYS.slice(0, 1000)) {
    const b = bucketOf('salt', key);
    assert.ok(Number.isInteger(b) && b >= 0 && b < BUCKETS);
  }
});

test('100,000 merchants at 12.5 % land on the first entry within ±0.5 points, each on the bucket it reports', () => {
  const rules = compileRules(canary(12.5), 1, backends);
  let onNext = 0;
  for (const key of KEYS) {
    const c = rules.choose(input(key));
    assert.equal(c.bucket, bucketOf('v1-canary', key));
    assert.equal(c.backend, c.bucket! < 1250 ? 'next' : 'legacy');
    assert.equal(c.reason, 'rule:v1-canary');
    if (c.backend === 'next') onNext++;
  }
  const share = (onNext / KEYS.length) * 100;
  assert.ok(Math.abs(share - 12.5) <= 0.5, `share on next: ${share} %`);
});

test('raising the first weight (10 → 12.5 → 20 → 50 → 100) only moves keys onto it, never off it', () => {
  const steps = [0, 10, 12.5, 20, 50, 100].map((w) => ({ w, rules: compileRules(canary(w), 1, backends) }));
  let previous = KEYS.map(() => false);
  for (const { w, rules } of steps) {
    let onNext = 0;
    const now = KEYS.map((key, i) => {
      const isNext = rules.choose(input(key)).backend === 'next';
      if (previous[i]) assert.ok(isNext, `${key} left next when the weight rose to ${w}`);
      if (isNext) onNext++;
      return isNext;
    });
    assert.ok(Math.abs((onNext / KEYS.length) * 100 - w) <= 0.5, `weight ${w}: ${onNext} keys on next`);
    previous = now;
  }
});

test('stickyBy merchant keeps all of a merchant\'s orders together; stickyBy order spreads them', () => {
  const orders = Array.from({ length: 400 }, (_, i) => `ORD-${i}`);
  const byMerchant = compileRules(canary(50), 1, backends);
  const byOrder = compileRules(canary(50, { stickyBy: 'order' }), 1, backends);
  const sides = (rules: typeof byMerchant, merchant: string) => new Set(orders.map((o) => rules.choose(input(merchant, o)).backend));
  for (const merchant of ['M-A', 'M-B', 'M-C']) {
    assert.equal(sides(byMerchant, merchant).size, 1, `${merchant} split across backends under stickyBy merchant`);
    assert.deepEqual([...sides(byOrder, merchant)].sort(), ['legacy', 'next']);
  }
  // By order, the key is the order number: the same order lands on the same side whoever sends it.
  for (const o of orders.slice(0, 50)) {
    assert.equal(byOrder.choose(input('M-A', o)).bucket, bucketOf('v1-canary', o));
    assert.equal(byOrder.choose(input('M-A', o)).backend, byOrder.choose(input('M-Z', o)).backend);
  }
  // A call without an order number (an unmodelled endpoint) is keyed by merchant.
  assert.equal(byOrder.choose(input('M-A')).bucket, bucketOf('v1-canary', 'M-A'));
});

test('the salt defaults to the rule name; an explicit salt survives a rename', () => {
  const named = compileRules(canary(30), 1, backends);
  const salted = compileRules(canary(30, { salt: 'cutover-2026' }), 1, backends);
  const renamed = compileRules(canary(30, { salt: 'cutover-2026', name: 'v1-canary-b' }), 1, backends);
  let differs = 0;
  for (const key of KEYS.slice(0, 2000)) {
    const s = salted.choose(input(key));
    assert.equal(s.bucket, bucketOf('cutover-2026', key));
    assert.equal(renamed.choose(input(key)).backend, s.backend);
    if (named.choose(input(key)).backend !== s.backend) differs++;
  }
  assert.ok(differs > 0, 'a different salt must reshuffle some keys');
});

test('the validator lists each semantic problem with its path', () => {
  const problems = (rs: unknown) => rulesetProblems(rs, backends);
  const split = (entries: [string, number][]) => entries.map(([backend, weight]) => ({ backend, weight }));
  const cases: [string, unknown, { path: string; message: RegExp }[]][] = [
    ['unknown backend', { rules: [{ name: 'a', match: { apiVersion: 'v1' }, backend: 'nova' }, V2_TO_NEXT], default: 'legacy' },
      [{ path: '/rules/0/backend', message: /unknown backend "nova"/ }]],
    ['unknown default', { rules: [], default: 'nova' }, [{ path: '/default', message: /unknown backend "nova"/ }]],
    ['a rule without apiVersion to legacy can receive v2', { rules: [{ name: 'vip', match: { merchants: ['M1'] }, backend: 'legacy' }, V2_TO_NEXT], default: 'legacy' },
      [{ path: '/rules/0/backend', message: /"legacy" does not speak v2/ }]],
    ['a v2 path prefix to legacy', { rules: [{ name: 'p', match: { pathPrefix: '/api/v2/echo' }, backend: 'legacy' }, V2_TO_NEXT], default: 'legacy' },
      [{ path: '/rules/0/backend', message: /does not speak v2/ }]],
    ['default legacy with v2 not captured', { rules: [], default: 'legacy' }, [{ path: '/default', message: /does not speak v2/ }]],
    ['failover to a backend that cannot take the version', { rules: [{ ...V2_TO_NEXT, failover: 'legacy' }], default: 'next' },
      [{ path: '/rules/0/failover', message: /does not speak v2/ }]],
    ['weights not summing to 100', canary(12.5, { split: split([['next', 12.5], ['legacy', 87]]) }),
      [{ path: '/rules/0/split', message: /must sum to 100, got 99\.5/ }]],
    ['more than two decimals', canary(12.5, { split: split([['next', 12.345], ['legacy', 87.655]]) }),
      [{ path: '/rules/0/split/0/weight', message: /two decimals/ }, { path: '/rules/0/split/1/weight', message: /two decimals/ }]],
    ['a backend listed twice', canary(12.5, { split: split([['next', 50], ['next', 50]]) }),
      [{ path: '/rules/0/split/1/backend', message: /listed twice/ }]],
    ['duplicate names', { rules: [V2_TO_NEXT, { ...V2_TO_NEXT }], default: 'next' }, [{ path: '/rules/1/name', message: /duplicate rule name "v2-to-next"/ }]],
    ['split without stickyBy', { rules: [{ name: 's', match: {}, split: split([['next', 100]]) }], default: 'next' },
      [{ path: '/rules/0/stickyBy', message: /required/ }]],
    ['unknown field', { rules: [{ ...V2_TO_NEXT, weight: 5 }], default: 'next' }, [{ path: '/rules/0/weight', message: /not an allowed field/ }]],
  ];
  for (const [label, rs, expected] of cases) {
    const got = problems(rs);
    assert.equal(got.length, expected.length, `${label}: ${JSON.stringify(got)}`);
    expected.forEach((e, i) => {
      assert.equal(got[i].path, e.path, label);
      assert.match(got[i].message, e.message, label);
    });
  }
  assert.throws(() => compileRules({ rules: [], default: 'legacy' }, 3, backends), /ruleset v3 is invalid: \/default: .*does not speak v2/);
});

test('valid rulesets pass: two-decimal weights that sum to 100, an earlier rule capturing v2, everything to next', () => {
  const ok: Ruleset[] = [
    canary(33.33, { split: [{ backend: 'next', weight: 33.33 }, { backend: 'legacy', weight: 66.67 }] }),
    { rules: [V2_TO_NEXT, { name: 'vip', match: { merchants: ['M1'] }, backend: 'legacy' }], default: 'legacy' },
    { rules: [], default: 'next' },
  ];
  for (const rs of ok) assert.deepEqual(rulesetProblems(rs, backends), []);
});
