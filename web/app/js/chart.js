// A stacked bar chart in SVG: one bar per day, one segment per model. No library: ~100 lines we can read.
import { h, money, num } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
// Distinguishable, and each at least 3:1 against white (WCAG non-text contrast).
export const PALETTE = ['#1d4ed8', '#c2410c', '#047857', '#7e22ce', '#b91c1c', '#0e7490', '#a16207', '#be185d'];
const OTHER = '#4b5563';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function swatch(fill) {
  const svg = s('svg', { viewBox: '0 0 12 12', width: 12, height: 12, class: 'swatch', 'aria-hidden': 'true' });
  svg.append(s('rect', { width: 12, height: 12, rx: 2, fill }));
  return svg;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value);
  return step * power;
}

const METRICS = {
  requests: { label: 'Requests', value: (t) => t.requests, fmt: num },
  tokens: { label: 'Tokens', value: (t) => t.tokens, fmt: num },
  cost: { label: 'Cost', value: (t) => Number(t.cost), fmt: (v, c) => money(v, c) },
};

// data: the /activity/daily response. Models past the palette are summed as "other".
export function stackedBars(data, metric = 'requests') {
  const m = METRICS[metric];
  const shown = data.models.slice(0, PALETTE.length - (data.models.length > PALETTE.length ? 1 : 0));
  const colour = (model) => PALETTE[shown.indexOf(model)] ?? OTHER;
  const series = data.days.map((d) => {
    const parts = new Map();
    for (const [model, t] of Object.entries(d.models)) {
      const key = shown.includes(model) ? model : 'other';
      parts.set(key, (parts.get(key) || 0) + m.value(t));
    }
    return { date: d.date, parts, total: [...parts.values()].reduce((a, b) => a + b, 0) };
  });
  // Drawn narrower on phones, so its text stays readable once scaled to the screen.
  const W = window.innerWidth < 600 ? 380 : 760, H = window.innerWidth < 600 ? 240 : 280, left = 56, right = 8, top = 12, bottom = 36;
  const peak = Math.max(0, ...series.map((d) => d.total));
  const max = metric === 'cost' ? niceMax(peak) : Math.max(4, niceMax(peak)); // counts: whole-number ticks
  const plotW = W - left - right, plotH = H - top - bottom;
  const slot = plotW / Math.max(1, series.length);
  const barW = Math.max(2, slot * 0.7);
  const y = (v) => top + plotH - (v / max) * plotH;
  const total = series.reduce((a, d) => a + d.total, 0);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title', class: 'chart', 'data-metric': metric });
  svg.append(s('title', { id: 'chart-title' }, `${m.label} per day for ${series.length} days, by model: ${m.fmt(total, data.currency)} in all`));
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    svg.append(s('line', { x1: left, x2: W - right, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, metric === 'cost' ? money(v) : num(Math.round(v * 100) / 100)));
  }
  series.forEach((d, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const g = s('g', { class: 'bar', 'data-date': d.date, 'data-total': d.total });
    let base = 0;
    for (const [model, v] of d.parts) {
      if (v <= 0) continue;
      const y0 = y(base + v);
      g.append(s('rect', { x, y: y0, width: barW, height: Math.max(1, y(base) - y0), fill: colour(model), 'data-model': model },
        s('title', {}, `${d.date} · ${model}: ${m.fmt(v, data.currency)}`)));
      base += v;
    }
    svg.append(g);
    const last = i === series.length - 1;
    if ((series.length - 1 - i) % (W < 600 ? 10 : 7) === 0) {
      svg.append(s('text', { x: x + barW / 2, y: H - bottom + 16, 'text-anchor': last ? 'end' : 'middle', class: 'axis' },
        last ? (W < 600 ? 'today' : `today ${d.date.slice(5)}`) : d.date.slice(5)));
    }
  });
  const legendItems = [...shown, ...(data.models.length > shown.length ? ['other'] : [])];
  const legend = h('ul', { class: 'legend', 'aria-label': 'Models' },
    legendItems.map((model) => h('li', {}, swatch(colour(model)), model)));
  const rows = series.filter((d) => d.total > 0);
  const detail = h('details', {}, h('summary', {}, 'The numbers'),
    rows.length ? h('table', { class: 'compact' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col', class: 'num' }, m.label))),
      h('tbody', {}, rows.flatMap((d) => [...d.parts].map(([model, v]) => h('tr', {}, h('td', {}, d.date), h('td', {}, model), h('td', { class: 'num' }, m.fmt(v, data.currency)))))))
      : h('p', { class: 'muted' }, 'No requests in these days.'));
  return h('figure', { class: 'chart-figure' }, svg, legendItems.length ? legend : h('p', { class: 'muted' }, 'No requests in the last 30 days yet.'), detail);
}
