import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { useStack, v1SplitRules } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

const stack = useStack(() => ({ rules: v1SplitRules('v1-canary', [{ backend: 'next', weight: 0 }, { backend: 'legacy', weight: 100 }]) }));
let dir: string;
let spec: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cutover-cli-'));
  spec = join(dir, 'canary.yaml');
  // Steps long enough that the controller does not move on during the test.
  writeFileSync(spec, [
    'rule: v1-canary', 'backend: next', 'steps: [5, 25, 100]', 'stepSeconds: 3600',
    'gates: { max5xxRatio: 0.01, maxP99Ms: 800, minRequests: 200 }', 'onFail: pause',
  ].join('\n'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const cutover = (...args: string[]) => runCli(stack.gw.adminUrl, args);
const nextWeight = async () => {
  const r = (await admin(stack.gw, 'GET', '/admin/rules')).body;
  return r.rules.find((x: { name: string }) => x.name === 'v1-canary').split.find((e: { backend: string }) => e.backend === 'next').weight;
};

test('canary status with no rollout says idle', async () => {
  const res = await cutover('canary', 'status');
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^state\s+idle$/m);
});

test('canary start from a YAML file writes the first step; status, pause, resume and abort drive it', async () => {
  const started = await cutover('canary', 'start', spec);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /^state\s+running$/m);
  assert.match(started.stdout, /^rule\s+v1-canary$/m);
  assert.match(started.stdout, /^weight\s+5%$/m);
  assert.match(started.stdout, /^step\s+1 of 3$/m);
  assert.equal(await nextWeight(), 5, 'the first step is a ruleset version');

  const status = JSON.parse((await cutover('canary', 'status', '--json')).stdout);
  assert.deepEqual([status.state, status.rule, status.backend, status.weight], ['running', 'v1-canary', 'next', 5]);

  const paused = await cutover('canary', 'pause');
  assert.equal(paused.code, 0, paused.stderr);
  assert.match(paused.stdout, /^state\s+paused$/m);
  assert.match(paused.stdout, /^history:\n.*ACTION/m);
  const again = await cutover('canary', 'pause');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^cutover: canary_conflict: /);

  assert.match((await cutover('canary', 'resume')).stdout, /^state\s+running$/m);
  const aborted = await cutover('canary', 'abort');
  assert.equal(aborted.code, 0, aborted.stderr);
  assert.match(aborted.stdout, /^state\s+aborted$/m);
  assert.equal(await nextWeight(), 0, 'abort restores the split');
});

test('canary start with an invalid spec exits 1 with the gateway\'s problems; a missing file exits 2', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ rule: 'v1-canary', backend: 'next', steps: [], stepSeconds: 1 }));
  const res = await cutover('canary', 'start', bad);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^cutover: invalid_canary: /);
  assert.match(res.stderr, /\/gates: is required/);
  assert.equal((await cutover('canary', 'start', '/nonexistent/canary.yaml')).code, 2);
});
