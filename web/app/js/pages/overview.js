// Balance and held credits, the plan and its limits, this month against the budget (the API's own warnings),
// and the last 30 days per model (GET /activity/daily, from the rollups).
import { get } from '../api.js';
import { stackedBars } from '../chart.js';
import { card, errorBox, fill, h, money, notice, num } from '../ui.js';

function meter(label, used, limit, text) {
  const pct = limit ? Math.min(100, (used / limit) * 100) : 0;
  return h('div', { class: 'meter-row' },
    h('div', { class: 'meter-label' }, h('span', {}, label), h('span', {}, text)),
    limit ? h('progress', { max: 100, value: pct.toFixed(1), 'aria-label': `${label}: ${pct.toFixed(1)} % used`, class: pct >= 80 ? 'high' : '' }) : null);
}

function totals30(daily) {
  let requests = 0, tokens = 0, cost = 0;
  for (const d of daily.days) {
    for (const t of Object.values(d.models)) { requests += t.requests; tokens += t.tokens; cost += Number(t.cost); }
  }
  return `${num(requests)} requests, ${num(tokens)} tokens, ${money(cost, daily.currency)}`;
}

export async function render() {
  // /api/usage/current has its own tight limit (10 a minute, as the usage/limits API documents it): when it refuses,
  // its card says when to retry and the rest of the page still shows.
  const [balance, plan, usage, daily] = await Promise.all([
    get('user/balance'), get('user/plan'), get('api/usage/current').catch((err) => {
      if (err.status === 429) return err;
      throw err;
    }), get('activity/daily'),
  ]);
  const p = plan.plan;
  const currency = balance.currency;
  const held = Number(balance.credits) - Number(balance.available_credits);
  const limited = usage instanceof Error;
  const month = limited ? null : usage.current_usage.current_month;
  const limits = limited ? null : usage.current_usage.limits;
  const budget = limited ? null : limits.monthly_budget;

  const chartHolder = h('div', {});
  const metric = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Chart metric' });
  const show = (m) => {
    fill(chartHolder, stackedBars(daily, m));
    for (const b of metric.children) b.setAttribute('aria-pressed', String(b.value === m));
  };
  for (const [m, label] of [['requests', 'Requests'], ['tokens', 'Tokens'], ['cost', 'Cost']]) {
    metric.append(h('button', { type: 'button', value: m, class: 'secondary', onclick: () => show(m) }, label));
  }
  show('requests');

  return h('div', {},
    h('h1', {}, 'Overview'),
    !limited && usage.warnings?.length ? usage.warnings.map((w) => notice(typeof w === 'string' ? w : w.message || JSON.stringify(w), 'warn')) : null,
    h('div', { class: 'grid' },
      card('Balance',
        h('p', { class: 'big', id: 'balance', 'data-value': balance.credits }, money(balance.credits), ' ', h('span', { class: 'unit' }, currency.toUpperCase())),
        h('p', { class: 'muted' }, 'Available ', h('span', { id: 'available' }, money(balance.available_credits, currency)),
          held > 0 ? ` · held by requests in flight ${money(held, currency)}` : ' · nothing held'),
        h('p', {}, h('a', { href: '#/billing' }, 'Buy credits'))),
      card('Plan',
        h('p', { class: 'big' }, p.display_name),
        h('ul', { class: 'facts' },
          h('li', {}, `${num(p.requests_per_minute)} requests / minute`),
          h('li', {}, `${num(p.requests_per_hour)} / hour · ${num(p.daily_request_limit)} / day`),
          h('li', {}, `${num(p.monthly_request_limit)} / month`),
          p.end_date && h('li', { class: 'muted' }, `Period ends ${p.end_date.slice(0, 10)}`))),
      card('This month', ...(limited ? [errorBox(usage)] : [
        meter('Requests', month.requests, limits.monthly_requests, `${num(month.requests)} of ${num(limits.monthly_requests)}`),
        budget != null
          ? meter('Budget', Number(month.cost), Number(budget), `${money(month.cost)} of ${money(budget, month.currency)}`)
          : h('p', {}, 'Spent ', h('strong', {}, money(month.cost, month.currency)), h('span', { class: 'muted' }, ' (prepaid: no monthly budget)')),
        h('p', { class: 'muted' }, `${num(month.tokens)} tokens`)]),
        h('p', { class: 'muted small' }, 'Last 30 days: ', h('span', { id: 'total-30' }, totals30(daily))))),
    h('section', { class: 'card wide', 'aria-labelledby': 'daily-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'daily-h' }, 'Last 30 days, by model'), metric),
      chartHolder,
      h('p', { class: 'muted small' }, 'From the usage rollups, which trail live traffic by about a minute.')));
}
