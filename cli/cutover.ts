#!/usr/bin/env node
/**
 * cutover: the ops CLI for a Cutover gateway's admin API (SPEC sections 6
 * and 8). Exit codes: 0 done; 1 the gateway refused (its error code and
 * message on stderr) or could not be reached; 2 a wrong command line; 3
 * (`drain`) a backend that is no longer configured still owns live pins.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AdminClient, ApiError, UsageError, seg } from './client.ts';
import { readDocument } from './files.ts';
import * as fmt from './format.ts';
import { handover } from './handover.ts';

interface Globals { url: string; token?: string; json?: boolean }

const program = new Command('cutover')
  .description('Operate a Cutover gateway: rules, merchant flags, explain, pins, audit and canary rollouts')
  .addOption(new Option('--url <url>', 'admin API base URL').env('CUTOVER_ADMIN_URL').default('http://127.0.0.1:8081'))
  .addOption(new Option('--token <token>', 'admin API Bearer token').env('CUTOVER_ADMIN_TOKEN'))
  .option('--json', 'print the admin API answers as raw JSON')
  .exitOverride()
  .showHelpAfterError('(run "cutover --help" for usage)');

function client(): AdminClient {
  const g = program.opts<Globals>();
  if (!g.token) throw new UsageError('no admin token: pass --token or set CUTOVER_ADMIN_TOKEN');
  return new AdminClient(g.url, g.token);
}

/** Prints an answer: raw JSON with --json, else the readable form. */
function print(answer: unknown, readable: (a: any) => string): void {
  process.stdout.write(`${program.opts<Globals>().json ? JSON.stringify(answer, null, 2) : readable(answer)}\n`);
}

const positiveInt = (what: string) => (v: string): number => {
  if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new InvalidArgumentError(`${what} must be a positive integer`);
  return Number(v);
};

// rules
const rules = program.command('rules').description('the routing ruleset (versioned)');
rules.command('get').description('show the current ruleset, its version and the effective split')
  .action(async () => print((await client().get('/admin/rules')).body, fmt.ruleset));
rules.command('apply').description('replace the ruleset with a YAML or JSON file ("-" for stdin); refused if it changed since read')
  .argument('<file>', 'the ruleset: {rules, default, comment?}')
  .option('--comment <text>', 'why (kept in history and audit)')
  .option('--force', 'write even if the ruleset changed since it was read (no If-Match)')
  .action(async (file: string, opts: { comment?: string; force?: boolean }) => {
    // A file saved from `cutover --json rules get` carries the version it was read at: that
    // version is the one the edit was based on, so it is the If-Match. Read-only fields are dropped.
    const { version: basedOn, updatedAt: _a, updatedBy: _b, effectiveSplit: _c, ...doc } = readDocument(file) as Record<string, unknown>;
    if (basedOn !== undefined && !Number.isInteger(basedOn)) throw new UsageError(`${file}: "version" must be the integer version the file was read at`);
    if (opts.comment !== undefined) doc.comment = opts.comment;
    const c = client();
    let was: number | undefined;
    const headers: Record<string, string> = {};
    if (!opts.force) {
      was = (basedOn as number | undefined) ?? (await c.get('/admin/rules')).body.version;
      headers['if-match'] = `"${was}"`;
    }
    const answer = await c.put('/admin/rules', doc, headers);
    print(answer.body, (b) => `applied: ruleset version ${b.version}${was === undefined ? '' : ` (was ${was})`}`);
  });
rules.command('history').description('every ruleset version with time, actor and comment')
  .action(async () => print((await client().get('/admin/rules/history')).body, (b) => fmt.history(b.versions)));
rules.command('rollback').description('write a new version with the content of an old one')
  .argument('<version>', 'the version to restore', positiveInt('version'))
  .action(async (version: number) => {
    const answer = await client().post('/admin/rules/rollback', { version });
    print(answer.body, (b) => `rolled back to the content of version ${b.rolledBackTo}: ruleset version ${b.version}`);
  });

// merchant flags
const merchant = program.command('merchant').description('per-merchant backend flags');
merchant.command('set').description('send a merchant\'s new transactions to a backend')
  .argument('<id>', 'merchant id').argument('<backend>', 'backend name')
  .option('--comment <text>', 'why (kept in the flag and the audit)')
  .action(async (id: string, backend: string, opts: { comment?: string }) => {
    const body = { backend, ...(opts.comment === undefined ? {} : { comment: opts.comment }) };
    print((await client().put(`/admin/merchants/${seg(id)}`, body)).body, (f) => `merchant ${f.merchant}: flagged to ${f.backend}`);
  });
merchant.command('unset').description('remove a merchant\'s flag (it goes back to the rules)').argument('<id>', 'merchant id')
  .action(async (id: string) => {
    print((await client().delete(`/admin/merchants/${seg(id)}`)).body, (b) => `merchant ${id}: flag removed (was ${b.deleted.backend})`);
  });
merchant.command('get').description('one merchant\'s flag').argument('<id>', 'merchant id')
  .action(async (id: string) => print((await client().get(`/admin/merchants/${seg(id)}`)).body, (f) => fmt.flags([f])));
merchant.command('list').description('every merchant flag')
  .action(async () => print((await client().get('/admin/merchants')).body, (b) => fmt.flags(b.merchants)));

// explain, pins, audit
program.command('explain').description('where the data plane would send a request now, and why (changes nothing)')
  .addOption(new Option('--api-version <version>', 'API version').choices(['v1', 'v2']))
  .requiredOption('--merchant <id>', 'merchant id')
  .option('--path <path>', 'request path, e.g. /api/v1/payments/T123 (default: the create endpoint)')
  .option('--order <orderId>', 'merchant order number (creates and queries)')
  .option('--method <method>', 'HTTP method (default: POST for a create, GET with --path)')
  .option('--idempotency-key <key>', 'v2 Idempotency-Key of a create')
  .action(async (o: { apiVersion?: string; merchant: string; path?: string; order?: string; method?: string; idempotencyKey?: string }) => {
    if (!o.apiVersion && !o.path) throw new UsageError('explain: give --api-version or a --path under /api/v1/ or /api/v2/');
    const q = new URLSearchParams();
    for (const [k, v] of [['apiVersion', o.apiVersion], ['merchant', o.merchant], ['path', o.path], ['orderId', o.order], ['method', o.method?.toUpperCase()], ['idempotencyKey', o.idempotencyKey]]) {
      if (v !== undefined) q.set(k!, v);
    }
    print((await client().get(`/admin/explain?${q}`)).body, fmt.explain);
  });
program.command('pins').description('which backend holds a transaction, since and until when')
  .argument('<transactionId>', 'transaction id (trade_no or id)')
  .action(async (id: string) => print((await client().get(`/admin/pins/${seg(id)}`)).body, fmt.pin));
program.command('audit').description('admin changes, newest first')
  .option('--limit <n>', 'at most this many entries', positiveInt('--limit'))
  .action(async (o: { limit?: number }) => {
    print((await client().get(`/admin/audit${o.limit ? `?limit=${o.limit}` : ''}`)).body, (b) => fmt.audit(b.entries));
  });

// canary rollouts
const canary = program.command('canary').description('stepwise rollouts on a split rule');
canary.command('status').description('the rollout state, step, weight and gate readings')
  .action(async () => print((await client().get('/admin/canary')).body, fmt.canary));
canary.command('start').description('start a rollout described by a YAML or JSON file').argument('<file>', '{rule, backend, steps, stepSeconds, gates, onFail?}')
  .action(async (file: string) => {
    const doc = readDocument(file);
    print((await client().put('/admin/canary', doc)).body, fmt.canary);
  });
for (const action of ['pause', 'resume', 'abort'] as const) {
  canary.command(action).description(`${action} the running rollout`)
    .action(async () => print((await client().post(`/admin/canary/${action}`)).body, fmt.canary));
}

// drain and hand-over (issue 16)
program.command('drain').description('what each backend still holds and serves; exits 3 while a backend no longer configured owns live pins')
  .action(async () => {
    const report = (await client().get('/admin/drain')).body;
    print(report, fmt.drain);
    const orphaned = Object.values(report.backends as Record<string, { configured: boolean; livePins: number }>).some((b) => !b.configured && b.livePins > 0);
    if (orphaned) process.exitCode = 3;
  });

program.command('handover').description('hand over migrated transactions (CSV with header or JSON lines): freeze, compare both backends, move the pins of those that agree')
  .argument('<file>', 'merchant,apiVersion,transactionId[,orderId][,idempotencyKey] per line ("-" for stdin)')
  .option('--from <backend>', 'the backend the transactions live on now')
  .option('--to <backend>', 'the backend their data was migrated to')
  .option('--dry-run', 'compare only, move nothing')
  .option('--job <id>', 'resume sending the file to this job (rows it has are skipped)')
  .option('--rate <n>', 'transactions per second (default: the gateway\'s)', positiveInt('--rate'))
  .option('--no-follow', 'return once the rows are sent')
  .action(async (file: string, o: { from?: string; to?: string; dryRun?: boolean; job?: string; rate?: number; follow: boolean }) => {
    print(await handover(client(), file, o), fmt.handover);
  });
const job = program.command('handover-job').description('one hand-over job: status, steering, reverse, differences');
job.command('status').argument('<job>', 'job id').action(async (id: string) => print((await client().get(`/admin/handover/${seg(id)}`)).body, fmt.handover));
for (const action of ['pause', 'resume', 'abort'] as const) {
  job.command(action).description(`${action} the job`).argument('<job>', 'job id')
    .action(async (id: string) => print((await client().post(`/admin/handover/${seg(id)}/${action}`)).body, fmt.handover));
}
job.command('reverse').description('compare again and move the pins of a completed job back').argument('<job>', 'job id')
  .action(async (id: string) => print((await client().post(`/admin/handover/${seg(id)}/reverse`)).body, (b) => `reverse job ${b.job} of ${b.reverseOf}`));
job.command('differences').description('every difference and failure of the job, as CSV').argument('<job>', 'job id')
  .action(async (id: string) => {
    const g = program.opts<Globals>();
    client();
    const res = await fetch(`${g.url.replace(/\/+$/, '')}/admin/handover/${seg(id)}/differences.csv`, { headers: { authorization: `Bearer ${g.token}` } });
    if (!res.ok) throw new ApiError(`http_${res.status}`, `differences of ${id}: ${res.status}`, res.status);
    process.stdout.write(await res.text());
  });

function explainError(err: ApiError): string {
  const lines = [`cutover: ${err.code}: ${err.message}`];
  if (Array.isArray(err.details)) {
    for (const d of err.details) lines.push(`  ${d?.path ?? ''}: ${d?.message ?? JSON.stringify(d)}`);
  } else if (err.details && typeof err.details === 'object') {
    for (const [k, v] of Object.entries(err.details)) lines.push(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  }
  if (err.code === 'version_conflict') lines.push('  (re-read with "cutover rules get" and apply again, or pass --force)');
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed the message (or the help that was asked for).
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) { process.stderr.write(`cutover: ${err.message}\n`); return 2; }
    if (err instanceof ApiError) { process.stderr.write(explainError(err)); return 1; }
    throw err;
  }
}

process.exitCode = await main(process.argv);
