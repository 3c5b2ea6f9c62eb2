/**
 * Readable output of the `cutover` CLI: aligned tables and key/value lines.
 * (`--json` bypasses all of this and prints the gateway's answer as is.)
 */

type Row = (string | number | null | undefined)[];

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: Row[]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

/** "key  value" lines, keys aligned; entries with an undefined value are left out. */
export function fields(entries: [string, unknown][]): string {
  const shown = entries.filter(([, v]) => v !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n');
}

const pct = (n: number) => `${Math.round(n * 100) / 100}%`;

function matchText(match: Record<string, unknown> = {}): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(match)) {
    if (Array.isArray(v)) parts.push(`${k}=${v.length > 3 ? `${v.slice(0, 3).join(',')},…(${v.length})` : v.join(',')}`);
    else if (v && typeof v === 'object') parts.push(`${k}:${(v as { name: string }).name}=${(v as { equals: string }).equals}`);
    else parts.push(`${k}=${v}`);
  }
  return parts.length ? parts.join(' ') : '(everything)';
}

function routeText(rule: any): string {
  if (rule.backend) return rule.backend;
  const split = (rule.split ?? []).map((e: any) => `${e.backend} ${pct(e.weight)}`).join(' / ');
  return `${split} (by ${rule.stickyBy})`;
}

export function effectiveSplit(views: any[] | undefined): string {
  if (!views || views.length === 0) return '';
  const rows: Row[] = [];
  for (const v of views) {
    for (const b of v.backends) {
      rows.push([v.rule, b.backend, pct(b.configuredWeight), b.effectiveShare === null ? null : pct(b.effectiveShare * 100), b.transactions]);
    }
  }
  const window = views[0].windowMinutes;
  return `effective split (new transactions, last ${window} min):\n${table(['RULE', 'BACKEND', 'WEIGHT', 'ACTUAL', 'TRANSACTIONS'], rows)}`;
}

export function ruleset(r: any): string {
  const by = [r.updatedBy && `by ${r.updatedBy}`, r.comment && `"${r.comment}"`].filter(Boolean).join(' ');
  const head = `ruleset version ${r.version}, updated ${r.updatedAt}${by ? ` ${by}` : ''}`;
  const rules = r.rules.length === 0 ? '(no rules)'
    : table(['#', 'NAME', 'MATCH', 'ROUTE', 'FAILOVER'], r.rules.map((rule: any, i: number) => [i + 1, rule.name, matchText(rule.match), routeText(rule), rule.failover]));
  return [head, rules, `default: ${r.default}`, effectiveSplit(r.effectiveSplit)].filter(Boolean).join('\n\n');
}

export function history(versions: any[]): string {
  return table(['VERSION', 'TIME', 'ACTOR', 'COMMENT'], versions.map((v) => [v.version, v.updatedAt, v.updatedBy, v.comment]));
}

export function flags(list: any[]): string {
  if (list.length === 0) return 'no merchant flags';
  const sorted = [...list].sort((a, b) => a.merchant.localeCompare(b.merchant));
  return table(['MERCHANT', 'BACKEND', 'UPDATED', 'BY', 'COMMENT'], sorted.map((f) => [f.merchant, f.backend, f.updatedAt, f.updatedBy, f.comment]));
}

export function explain(e: any): string {
  if (e.reason === 'refused') {
    return fields([['refused', `${e.refusal.status} ${e.refusal.error}`], ['message', e.refusal.message], ['endpoint', e.endpoint], ['rules', `version ${e.rulesVersion}`]]);
  }
  return fields([
    ['backend', e.backend], ['reason', e.reason], ['rule', e.rule], ['bucket', e.bucket],
    ['pinned', e.pinned ? 'yes' : 'no'], ['endpoint', e.endpoint], ['rules', `version ${e.rulesVersion}`],
  ]);
}

export function pin(p: any): string {
  return fields([['transaction', p.transactionId], ['backend', p.backend], ['pinned at', p.pinnedAt], ['expires at', p.expiresAt]]);
}

/** A one-line summary of an audit entry's change. */
function change(e: any): string {
  const side = (x: any) => {
    if (x === null || x === undefined) return '(none)';
    if (typeof x.version === 'number') return `v${x.version}`;
    if (typeof x.backend === 'string') return x.backend;
    if (typeof x.state === 'string') return x.state;
    return JSON.stringify(x).slice(0, 40);
  };
  const comment = e.after?.comment;
  return `${side(e.before)} → ${side(e.after)}${comment ? ` "${comment}"` : ''}`;
}

export function audit(entries: any[]): string {
  if (entries.length === 0) return 'no audit entries';
  return table(['TIME', 'ACTOR', 'ACTION', 'TARGET', 'CHANGE'], entries.map((e) => [e.time, e.actor, e.action, e.target, change(e)]));
}

export function canary(c: any): string {
  if (!c || typeof c !== 'object') return String(c);
  const known = ['state', 'rule', 'backend', 'step', 'weight', 'readings', 'history'];
  const lines = fields([
    ['state', c.state], ['rule', c.rule], ['backend', c.backend],
    // The API counts steps from 0; people count from 1.
    ['step', typeof c.step === 'number' && Array.isArray(c.steps) ? `${c.step + 1} of ${c.steps.length}` : c.step],
    ['weight', typeof c.weight === 'number' ? pct(c.weight) : c.weight],
    ...Object.entries(c).filter(([k]) => !known.includes(k)) as [string, unknown][],
  ]);
  const out = [lines];
  if (c.readings && typeof c.readings === 'object') {
    out.push(`readings:\n${fields(Object.entries(c.readings)).replace(/^/gm, '  ')}`);
  }
  if (Array.isArray(c.history) && c.history.length > 0) {
    const keys = [...new Set(c.history.flatMap((h: object) => Object.keys(h)))] as string[];
    out.push(`history:\n${table(keys.map((k) => k.toUpperCase()), c.history.map((h: any) => keys.map((k) => (typeof h[k] === 'object' && h[k] !== null ? JSON.stringify(h[k]) : h[k]))))}`);
  }
  return out.join('\n');
}

/** The drain report: one block per backend, the switch-off warnings last. */
export function drain(r: { backends: Record<string, any>; warnings: string[] }): string {
  const lines: string[] = [];
  for (const [name, b] of Object.entries(r.backends)) {
    lines.push(`${name}${b.configured ? '' : ' (NOT CONFIGURED)'}: ${b.verdict.toUpperCase()} - ${b.reason}`);
    lines.push(`  live transactions ${b.livePins}; new: ${b.newTransactions.hour}/h ${b.newTransactions.day}/day; follow-ups: ${b.followUps.hour}/h ${b.followUps.day}/day ${b.followUps.week}/week; last follow-up ${b.lastFollowUpAt ?? 'never'}`);
    if (b.expiring.length) lines.push(`  expiring: ${b.expiring.map((e: { month: string; pins: number }) => `${e.month} ${e.pins}`).join(', ')}`);
  }
  for (const w of r.warnings) lines.push(`WARNING: ${w}`);
  return lines.join('\n');
}

/** A hand-over job's status. */
export function handover(s: any): string {
  const lines = [`job ${s.job}: ${s.state}${s.dryRun ? ' (dry run)' : ''}, ${s.from} -> ${s.to}`,
    `  ${s.done}/${s.total} done: moved ${s.moved}, same ${s.same ?? 0}, differing ${s.differing}, failed ${s.failed}; ${s.rate ?? 0}/s`];
  for (const d of s.differences ?? []) {
    lines.push(`  ${d.transactionId} (${d.merchant}): ${d.reason ?? (d.differences ?? []).map((f: any) => `${f.field} ${JSON.stringify(f.from)} vs ${JSON.stringify(f.to)}`).join('; ')}`);
  }
  return lines.join('\n');
}
