/**
 * Reading rulesets as an operator does: one line per rule, and the
 * difference between two versions said rule by rule (added, removed,
 * changed field by field, order changed, default changed). Order matters
 * because the first matching rule decides (SPEC 4).
 */

/** The match of a rule in words. */
export function describeMatch(match = {}) {
  const parts = [];
  if (match.apiVersion) parts.push(`API ${match.apiVersion}`);
  if (match.merchants) parts.push(`merchants ${match.merchants.length > 5 ? `${match.merchants.slice(0, 5).join(', ')} and ${match.merchants.length - 5} more` : match.merchants.join(', ')}`);
  if (match.methods) parts.push(`methods ${match.methods.join(', ')}`);
  if (match.pathPrefix) parts.push(`path starts ${match.pathPrefix}`);
  if (match.header) parts.push(`header ${match.header.name} = ${match.header.equals}`);
  return parts.length ? parts.join(' · ') : 'every request';
}

/** Where a rule sends new transactions, in words. */
export function describeTarget(rule) {
  if (rule.split) return `split ${rule.split.map((e) => `${e.backend} ${e.weight} %`).join(', ')}`;
  return rule.backend ?? '–';
}

/** The ruleset part of a stored version (no version metadata). */
export function rulesetOf(v) {
  return { rules: v.rules ?? [], default: v.default };
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What changes from ruleset `a` to ruleset `b`: a list of
 * `{kind, rule?, text}` with kind one of added, removed, changed, order, default.
 */
export function diffRulesets(a, b) {
  const out = [];
  const byName = (rs) => new Map((rs.rules ?? []).map((r) => [r.name, r]));
  const A = byName(a);
  const B = byName(b);
  for (const [name, rule] of A) if (!B.has(name)) out.push({ kind: 'removed', rule: name, text: `rule ${name} removed (was: ${describeMatch(rule.match)} → ${describeTarget(rule)})` });
  for (const [name, rule] of B) if (!A.has(name)) out.push({ kind: 'added', rule: name, text: `rule ${name} added: ${describeMatch(rule.match)} → ${describeTarget(rule)}` });
  for (const [name, before] of A) {
    const after = B.get(name);
    if (!after || same(before, after)) continue;
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    for (const k of keys) {
      if (same(before[k], after[k])) continue;
      const show = (r) => (r[k] === undefined ? '(none)' : k === 'match' ? describeMatch(r.match) : k === 'split' ? describeTarget(r) : JSON.stringify(r[k]));
      out.push({ kind: 'changed', rule: name, text: `rule ${name}: ${k} ${show(before)} → ${show(after)}` });
    }
  }
  const orderA = (a.rules ?? []).map((r) => r.name).filter((n) => B.has(n));
  const orderB = (b.rules ?? []).map((r) => r.name).filter((n) => A.has(n));
  if (!same(orderA, orderB)) out.push({ kind: 'order', text: `order changed (the first match decides): ${orderA.join(', ')} → ${orderB.join(', ')}` });
  if (a.default !== b.default) out.push({ kind: 'default', text: `default ${a.default ?? '(none)'} → ${b.default ?? '(none)'}` });
  return out;
}
