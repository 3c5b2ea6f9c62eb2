/**
 * Overview: what an on-call engineer wants first. Per backend, traffic of
 * the last 15 minutes from every instance (requests per second, 5xx ratio,
 * p99) and this instance's breaker; where new transactions go now under
 * each split rule (configured weight beside the effective share, as
 * /admin/split gives); the canary's state.
 */
import { h, replace, note, table } from '../dom.js';
import { lineChart } from '../chart.js';
import { rate, percent, ms, count, when } from '../format.js';

const BREAKER_TEXT = { closed: 'closed', open: 'OPEN', half_open: 'half-open' };

function backendCard(b) {
  const stat = (label, value, key, title) => h('div', { class: 'stat', title }, h('span', { class: 'label' }, label), h('span', { class: 'value', dataset: { field: key } }, value));
  return h('article', { class: ['card', b.breaker === 'open' ? 'alarm' : b.errorRatio > 0.01 ? 'warn' : null], dataset: { backend: b.backend } },
    h('h3', null, b.backend, h('span', { class: ['badge', `breaker-${b.breaker ?? 'unknown'}`], dataset: { field: 'breaker' }, title: 'Circuit breaker on the instance serving this page' }, `breaker ${BREAKER_TEXT[b.breaker] ?? 'unknown'}`)),
    h('div', { class: 'stats' },
      stat('req/s, last minute', rate(b.rpsLastMinute), 'rpsLastMinute'),
      stat('req/s, 15 min', rate(b.rps), 'rps'),
      stat('5xx ratio, 15 min', percent(b.errorRatio, 2), 'errorRatio', '5xx answers (the gateway\'s own 502/503/504 included) over all answers'),
      stat('p99, 15 min', ms(b.p99Ms), 'p99', 'Upper bound of the latency bucket holding the 99th percentile'),
      stat('requests, 15 min', count(b.requests), 'requests')));
}

function splitTable(rule) {
  return h('div', { class: 'split', dataset: { rule: rule.rule } },
    h('h3', null, `Split rule ${rule.rule}`, h('span', { class: 'muted' }, ` · ${count(rule.total)} new transactions in the last ${rule.windowMinutes} min`)),
    table(['backend', 'configured', 'effective', 'transactions'], rule.backends.map((b) => [
      b.backend, percent(b.configuredWeight / 100, 0),
      h('td', { class: b.effectiveShare !== null && Math.abs(b.effectiveShare * 100 - b.configuredWeight) > 5 ? 'drift' : null }, b.effectiveShare === null ? 'no traffic yet' : percent(b.effectiveShare)),
      count(b.transactions),
    ])));
}

function canaryLine(c, ctx) {
  if (!c || c.state === 'idle') return h('p', null, 'No canary rollout has run. ', h('a', { href: '#canary' }, 'Start one'));
  const step = c.steps ? ` step ${c.step + 1} of ${c.steps.length}` : '';
  return h('p', null, h('span', { class: ['badge', `state-${c.state}`] }, c.state), ` ${c.rule} → ${c.backend} at ${c.weight} %${step}. `, h('a', { href: '#canary' }, 'Details'));
}

export default {
  id: 'overview',
  title: 'Overview',
  mount(root, ctx) {
    const updated = h('span', { class: 'muted', dataset: { field: 'updated' } });
    const cards = h('div', { class: 'cards' });
    const chartBox = h('div', { class: 'chart' });
    const splits = h('div', { class: 'splits' });
    const canary = h('div');
    const status = h('div', { class: 'status' });
    root.append(
      h('h2', null, 'Overview ', updated),
      status,
      h('p', { class: 'muted' }, 'Traffic from every instance sharing the store; breakers as seen by this instance.'),
      cards,
      h('h3', null, 'Requests per second by backend, last 15 minutes'),
      chartBox,
      h('h2', null, 'Where new transactions go now'),
      splits,
      h('h2', null, 'Canary'),
      canary);
    let chart = null;
    let chartBackends = '';
    ctx.every(2000, async () => {
      try {
        const [traffic, split, rules, canaryState] = await Promise.all([
          ctx.api.get('/admin/traffic'), ctx.api.get('/admin/split'), ctx.api.get('/admin/rules'), ctx.api.get('/admin/canary').catch(() => null),
        ]);
        if (!ctx.live) return;
        replace(status);
        replace(updated, `· rules version ${traffic.rulesVersion} · updated ${when(new Date().toISOString())}`);
        replace(cards, traffic.backends.map(backendCard));
        const names = traffic.backends.map((b) => b.backend);
        if (names.join() !== chartBackends) {
          chart?.destroy();
          chartBox.replaceChildren();
          chart = lineChart(chartBox, { series: names.map((n) => ({ label: n })), yFormat: (v) => rate(v) });
          chartBackends = names.join();
        }
        chart.set([traffic.series.time, ...names.map((n) => traffic.series.rps[n])]);
        const splitRules = split.rules ?? [];
        replace(splits, splitRules.length
          ? splitRules.map(splitTable)
          : h('p', null, `No split rule in ruleset version ${rules.version}: new transactions go by rule or to the default (${rules.default}).`));
        replace(canary, canaryLine(canaryState, ctx));
      } catch (err) {
        replace(status, note('error', `Cannot read the gateway: ${err.message}`));
      }
    });
    return () => chart?.destroy();
  },
};
