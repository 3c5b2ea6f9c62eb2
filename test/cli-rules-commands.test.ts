import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { orderId, READONLY_TOKEN, startBackends, startGateway, testConfig, v1Create, type Backends, type RunningGateway } from './helpers/stack.ts';
import { admin } from './helpers/admin.ts';

let backends: Backends;
let gw: RunningGateway;
let dir: string;
before(async () => {
  backends = await startBackends();
  gw = await startGateway(testConfig(backends.urls));
  dir = mkdtempSync(join(tmpdir(), 'cutover-cli-'));
});
after(async () => { await gw.close(); await backends.close(); rmSync(dir, { recursive: true, force: true }); });

/** Runs the CLI as an operator would, against this gateway (URL and token from the environment unless `env` says otherwise). */
const cutover = (args: string[], env: Record<string, string> = {}) => runCli(gw.adminUrl, args, env);
const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
const current = async () => (await admin(gw, 'GET', '/admin/rules')).body;
const routeV1 = async (merchant: string) => {
  const res = await fetch(`${gw.url}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-merchant-id': merchant }, body: JSON.stringify(v1Create(orderId())) });
  await res.arrayBuffer();
  return [res.headers.get('x-cutover-backend'), res.headers.get('x-cutover-reason')];
};

test('rules get prints the ruleset readably, and --json prints what the API answered', async () => {
  const human = await cutover(['rules', 'get']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^ruleset version 1, updated \S+ by config/);
  assert.match(human.stdout, /^1\s+v2-to-next\s+apiVersion=v2\s+next/m);
  assert.match(human.stdout, /^default: legacy$/m);

  const raw = await cutover(['--json', 'rules', 'get']);
  assert.equal(raw.code, 0);
  const body = JSON.parse(raw.stdout);
  assert.equal(body.version, 1);
  assert.deepEqual(body.rules, (await current()).rules);
  // Global options work after the command too, and --url/--token override the environment.
  const flags = await cutover(['rules', 'get', '--json', '--url', gw.adminUrl, '--token', READONLY_TOKEN], { CUTOVER_ADMIN_TOKEN: 'wrong', CUTOVER_ADMIN_URL: 'http://127.0.0.1:1' });
  assert.equal(flags.code, 0, flags.stderr);
  assert.equal(JSON.parse(flags.stdout).version, 1);
});

test('rules apply writes a YAML file as a new version that routes at once, and a JSON file likewise', async () => {
  const yaml = file('split.yaml', [
    'rules:',
    '  - { name: v2-to-next, match: { apiVersion: v2 }, backend: next }',
    '  - name: v1-half',
    '    match: { apiVersion: v1 }',
    '    split: [ { backend: next, weight: 50 }, { backend: legacy, weight: 50 } ]',
    '    stickyBy: merchant',
    'default: legacy',
  ].join('\n'));
  const applied = await cutover(['rules', 'apply', yaml, '--comment', 'half of v1 to next']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(applied.stdout.trim(), 'applied: ruleset version 2 (was 1)');
  const now = await current();
  assert.equal(now.version, 2);
  assert.equal(now.comment, 'half of v1 to next');
  assert.equal(now.updatedBy, 'ops', 'the actor is the name of the token the CLI sent');
  assert.equal((await routeV1('M-CLI'))[1], 'rule:v1-half');

  const json = file('all-next.json', JSON.stringify({ rules: [{ name: 'all-next', match: {}, backend: 'next' }], default: 'next' }));
  const asJson = await cutover(['--json', 'rules', 'apply', json]);
  assert.equal(asJson.code, 0, asJson.stderr);
  assert.equal(JSON.parse(asJson.stdout).version, 3);
  assert.deepEqual(await routeV1('M-CLI'), ['next', 'rule:all-next']);
});

test('rules apply of an invalid ruleset exits 1 with the gateway\'s code and every problem; a bad file exits 2', async () => {
  const bad = file('bad.json', JSON.stringify({ rules: [{ name: 'x', match: {}, backend: 'mainframe' }], default: 'nowhere' }));
  const res = await cutover(['rules', 'apply', bad]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^cutover: invalid_ruleset: /);
  assert.match(res.stderr, /\/rules\/0\/backend: unknown backend "mainframe"/);
  assert.match(res.stderr, /\/default: unknown backend "nowhere"/);
  assert.equal((await current()).version, 3);

  for (const args of [['rules', 'apply', join(dir, 'missing.yaml')], ['rules', 'apply', file('broken.yaml', 'rules: [\n')], ['rules', 'apply', file('list.json', '[]')]]) {
    const usage = await cutover(args);
    assert.equal(usage.code, 2, `${args.join(' ')}: ${usage.stderr}`);
    assert.match(usage.stderr, /^cutover: /);
  }
});

test('rules history lists the versions; rules rollback restores one as a new version', async () => {
  const history = await cutover(['rules', 'history']);
  assert.equal(history.code, 0);
  const lines = history.stdout.trim().split('\n');
  assert.match(lines[0], /^VERSION\s+TIME\s+ACTOR\s+COMMENT$/);
  assert.equal(lines.length, 4);
  assert.match(lines[2], /^2\s+\S+\s+ops\s+half of v1 to next$/);

  const rb = await cutover(['rules', 'rollback', '2']);
  assert.equal(rb.code, 0, rb.stderr);
  assert.equal(rb.stdout.trim(), 'rolled back to the content of version 2: ruleset version 4');
  const now = await current();
  assert.equal(now.version, 4);
  assert.equal(now.rules[1].name, 'v1-half');

  const unknown = await cutover(['rules', 'rollback', '99']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^cutover: not_found: /);
  for (const bad of ['0', 'two', '-1']) assert.equal((await cutover(['rules', 'rollback', bad])).code, 2, bad);
});

test('a ruleset saved with --json rules get and edited applies once; a stale copy is refused with 409 unless --force', async () => {
  const exported = JSON.parse((await cutover(['--json', 'rules', 'get'])).stdout);
  assert.equal(exported.version, 4);
  const edited = file('edited.json', JSON.stringify({ ...exported, default: 'next' }));
  const first = await cutover(['rules', 'apply', edited, '--comment', 'default to next']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim(), 'applied: ruleset version 5 (was 4)');
  assert.equal((await current()).default, 'next');

  const stale = await cutover(['rules', 'apply', edited]);
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /^cutover: version_conflict: .*\n {2}current: 5\n.*--force/);
  const forced = await cutover(['rules', 'apply', edited, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(forced.stdout.trim(), 'applied: ruleset version 6');
});

test('a bad token exits 1 with unauthorized; a read-only token exits 1 with forbidden on a write; no token is a usage error', async () => {
  const wrong = await cutover(['rules', 'get'], { CUTOVER_ADMIN_TOKEN: 'not-the-token' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /unauthorized/);
  assert.equal(wrong.stdout, '');

  const before = (await current()).version;
  const readOnly = await cutover(['rules', 'rollback', '1', '--token', READONLY_TOKEN]);
  assert.equal(readOnly.code, 1);
  assert.match(readOnly.stderr, /^cutover: forbidden: /);
  assert.equal((await current()).version, before);

  const none = await cutover(['rules', 'get'], { CUTOVER_ADMIN_TOKEN: '' });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /CUTOVER_ADMIN_TOKEN/);

  const down = await cutover(['rules', 'get', '--url', 'http://127.0.0.1:9']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^cutover: unreachable: /);
  assert.equal((await cutover(['rules', 'frobnicate'])).code, 2);
});
