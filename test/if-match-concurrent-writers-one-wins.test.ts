import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin } from './helpers/admin.ts';
import { useGateways } from './helpers/gateways.ts';
import { DEFAULT_RULES, type RunningGateway } from './helpers/stack.ts';

let instances: RunningGateway[];
useGateways(() => ({ onStarted: (gws) => { instances = gws; } }));

const getRules = async (gw: RunningGateway) => (await admin(gw, 'GET', '/admin/rules')).body;

test('writers racing on the same If-Match through two instances: exactly one wins, every other gets 409', async () => {
  for (let round = 0; round < 3; round++) {
    const { version } = await getRules(instances[0]);
    const writers = Array.from({ length: 8 }, (_, i) => ({
      via: instances[i % 2],
      comment: `round ${round} writer ${i}`,
      ruleset: { rules: DEFAULT_RULES.rules, default: i % 2 ? 'next' : 'legacy' },
    }));
    const answers = await Promise.all(writers.map(async (w) => {
      const res = await admin(w.via, 'PUT', '/admin/rules', { ...w.ruleset, comment: w.comment }, { headers: { 'if-match': `"${version}"` } });
      return { writer: w, status: res.status, body: res.body };
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
  const history = (await admin(instances[1], 'GET', '/admin/rules/history')).body;
  assert.deepEqual(history.versions.map((v: { version: number }) => v.version), [1, 2, 3, 4]);
});

test('writers racing without If-Match all succeed, in consecutive versions, each audited against the version it replaced', async () => {
  const { version } = await getRules(instances[0]);
  const answers = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const res = await admin(instances[i % 2], 'PUT', '/admin/rules', { rules: DEFAULT_RULES.rules, default: i % 2 ? 'next' : 'legacy', comment: `racer ${i}` });
    return { status: res.status, body: res.body };
  }));
  assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.map((a) => a.status)));
  assert.deepEqual(answers.map((a) => a.body.version).sort((x, y) => x - y), Array.from({ length: 8 }, (_, i) => version + 1 + i));

  const { entries } = (await admin(instances[0], 'GET', '/admin/audit?limit=8')).body;
  assert.equal(entries.length, 8);
  for (const e of entries) {
    assert.equal(e.action, 'rules.put');
    assert.equal(e.before.version, e.after.version - 1, `the entry for version ${e.after.version} names the version it replaced`);
  }
});
