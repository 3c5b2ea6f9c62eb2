/**
 * Time charts with uPlot (small, fast, canvas based; served from
 * node_modules by the gateway, no CDN). One wrapper so every chart of the
 * console looks alike.
 */
import uPlot from '../vendor/uplot/uPlot.esm.js';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

/**
 * A line chart in `container`. `series` are `{label, dash?}`; data is
 * `[times (unix s), ...values per series]`. Returns `{set(data), destroy()}`.
 */
export function lineChart(container, { title, series, height = 180, yFormat = (v) => String(v) }) {
  // The container's inner width (clientWidth less its padding), so the chart never overflows it.
  const pad = parseFloat(getComputedStyle(container).paddingLeft) + parseFloat(getComputedStyle(container).paddingRight);
  const width = Math.max(240, (container.clientWidth || 600) - pad);
  const opts = {
    title, width, height,
    scales: { x: { time: true } },
    axes: [{}, { values: (_u, ticks) => ticks.map(yFormat), size: 60 }],
    series: [{}, ...series.map((s, i) => ({
      label: s.label, stroke: s.color ?? PALETTE[i % PALETTE.length], width: 2, dash: s.dash, spanGaps: false,
      value: (_u, v) => (v === null || v === undefined ? '–' : yFormat(v)),
    }))],
    legend: { live: true },
  };
  const plot = new uPlot(opts, [[], ...series.map(() => [])], container);
  return {
    set(data) { plot.setData(data); },
    destroy() { plot.destroy(); },
  };
}

/** The colour of the i-th series, for legends outside the chart. */
export const colour = (i) => PALETTE[i % PALETTE.length];
