import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './helpers/redis.ts';
import { ADMIN_TOKEN, DEFAULT_RULES, startBackends, startGateway, testConfig, type Backends, type RunningGateway } from './helpers/stack.ts';

let redis: TestRedis;
let backends: Backends;
let instances: RunningGateway[];
before(async () => {
  redis = await startRedis();
  backends = await startBackends();
  instances = [
    await startGateway(testConfig(backends.urls), { redisUrl: redis.url }),
    await startGateway(testConfig(backends.urls), { redisUrl: redis.url }),
  ];
});
after(async () => {
  for (const gw of instances) await gw.close();
  await backends.close();
  await redis.close();
});

const getRules = async (gw: RunningGateway) =>
  (await fetch(`${gw.adminUrl}/admin/rules`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();

test('writers racing on the same If-Match through two instances: exactly one wins, every other gets 409', async () => {
  for (let round = 0; round < 3; round++) {
    const { version } = await getRules(instances[0]);
    const writers = Array.from({ length: 8 }, (_, i) => ({
      via: instances[i % 2],
      comment: `round ${round} writer ${i}`,
      ruleset: { rules: DEFAULT_RULES.rules, default: i % 2 ? 'next' : 'legacy' },
    }));
    const answers = await Promise.all(writers.map(async (w) => {
      const res = await fetch(`${w.via.adminUrl}/admin/rules`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'if-match': `"${version}"` },
        body: JSON.stringify({ ...w.ruleset, comment: w.comment }),
      });
      return { writer: w, status: res.status, body: await res.json() };
    }));

    const winners = answers.filter((a) => a.status === 200);
    const losers = answers.filter((a) => a.status !== 200);
    assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(answers.map((a) => a.status))}`);
    assert.equal(winners[0].body.version, version + 1);
    for (const l of losers) {
      assert.equal(l.status, 409);
      assert.equal(l.body.error, 'version_conflict');
      assert.equal(l.body.details.current, version + 1);
    }

    // Both instances agree on the winner's content, and history holds exactly one new version.
    for (const gw of instances) {
      const now = await getRules(gw);
      assert.equal(now.version, version + 1);
      assert.equal(now.comment, winners[0].writer.comment);
      assert.equal(now.default, winners[0].writer.ruleset.default);
    }
  }
  const history = await (await fetch(`${instances[1].adminUrl}/admin/rules/history`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  assert.deepEqual(history.versions.map((v: { version: number }) => v.version), [1, 2, 3, 4]);
});

test('writers racing without If-Match all succeed, in consecutive versions, each audited against the version it replaced', async () => {
  const { version } = await getRules(instances[0]);
  const answers = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const res = await fetch(`${instances[i % 2].adminUrl}/admin/rules`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rules: DEFAULT_RULES.rules, default: i % 2 ? 'next' : 'legacy', comment: `racer ${i}` }),
    });
    return { status: res.status, body: await res.json() };
  }));
  assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.map((a) => a.status)));
  assert.deepEqual(answers.map((a) => a.body.version).sort((x, y) => x - y), Array.from({ length: 8 }, (_, i) => version + 1 + i));

  const { entries } = await (await fetch(`${instances[0].adminUrl}/admin/audit?limit=8`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  assert.equal(entries.length, 8);
  for (const e of entries) {
    assert.equal(e.action, 'rules.put');
    assert.equal(e.before.version, e.after.version - 1, `the entry for version ${e.after.version} names the version it replaced`);
  }
});
