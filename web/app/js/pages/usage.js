// The activity log (GET /activity/history: filter, page, export as CSV) and, for license keys, the usage history
// of the usage/limits API (GET /api/usage/history).
import { get, session } from '../api.js';
import { busy, card, date, errorBox, field, fill, h, input, money, num, pager, table } from '../ui.js';

const LIMIT = 25;
const EXPORT_MAX = 2000;

const cell = (e, k) => e.event_data?.[k];
const COLUMNS = [
  { label: 'Time', render: (e) => date(e.timestamp) },
  { label: 'Event', render: (e) => e.event_type },
  { label: 'Model', render: (e) => cell(e, 'model') ?? '—' },
  { label: 'Tokens', num: true, render: (e) => (cell(e, 'tokens') == null ? '—' : num(cell(e, 'tokens'))) },
  { label: 'Cost', num: true, render: (e) => (cell(e, 'cost') == null ? '—' : money(cell(e, 'cost'), cell(e, 'currency'))) },
  { label: 'Status', render: (e) => cell(e, 'status') ?? '—' },
];

function csvEscape(v) {
  let s = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`; // a spreadsheet must not run it as a formula
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(events) {
  const head = ['timestamp', 'event_type', 'model', 'provider', 'endpoint', 'tokens', 'cost', 'currency', 'status', 'id', 'event_data'];
  const lines = events.map((e) => [e.timestamp, e.event_type, cell(e, 'model'), cell(e, 'provider'), cell(e, 'endpoint'),
    cell(e, 'tokens'), cell(e, 'cost'), cell(e, 'currency'), cell(e, 'status'), e.id, e.event_data].map(csvEscape).join(','));
  return [head.join(','), ...lines].join('\r\n') + '\r\n';
}

export async function render() {
  const filters = { event_type: '', start_date: '', end_date: '' };
  const holder = h('div', { 'aria-live': 'polite' });
  const load = async (offset = 0) => {
    fill(holder, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const page = await get('activity/history', { ...filters, limit: LIMIT, offset });
      fill(holder, 
        table(COLUMNS, page.data, { caption: 'Activity', empty: 'No activity matches these filters.' }),
        page.total > LIMIT ? pager(page.total, LIMIT, offset, load) : null);
    } catch (err) {
      fill(holder, errorBox(err));
    }
  };

  const type = input({ name: 'event_type', placeholder: 'e.g. api_call' });
  const start = input({ type: 'date', name: 'start_date' });
  const end = input({ type: 'date', name: 'end_date' });
  const apply = h('button', { type: 'submit' }, 'Apply filters');
  const exportOut = h('div', {});
  const exportButton = h('button', { type: 'button', class: 'secondary', onclick: () => busy(exportButton, exportOut, async () => {
    const all = [];
    for (let offset = 0; offset < EXPORT_MAX; offset += 200) {
      const page = await get('activity/history', { ...filters, limit: 200, offset });
      all.push(...page.data);
      if (offset + 200 >= page.total) break;
    }
    const blob = new Blob([toCsv(all)], { type: 'text/csv' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `activity-${new Date().toISOString().slice(0, 10)}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
  }) }, 'Export CSV');
  const form = h('form', { class: 'inline-form', 'aria-label': 'Filter the activity log' },
    field('Event type', type), field('From', start), field('To', end), apply, exportButton, exportOut);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    Object.assign(filters, { event_type: type.value.trim(), start_date: start.value, end_date: end.value });
    load(0);
  });
  load(0);

  const parts = [h('h1', {}, 'Usage'), h('section', { class: 'card wide', 'aria-labelledby': 'log-h' }, h('h2', { id: 'log-h' }, 'Activity log'), form, holder)];
  if (session.isLicense) {
    try {
      const history = await get('api/usage/history');
      const days = Object.entries(history.daily_usage || {}).sort(([a], [b]) => (a < b ? 1 : -1));
      parts.push(card('Usage history (license)',
        h('p', {}, `${num(history.summary.total_requests)} requests, ${num(history.summary.total_tokens)} tokens, `,
          money(history.summary.total_cost, history.summary.currency), ` in ${history.period.days} days`),
        table([
          { label: 'Day', render: ([d]) => d },
          { label: 'Requests', num: true, render: ([, v]) => num(v.requests ?? v.total_requests) },
          { label: 'Tokens', num: true, render: ([, v]) => num(v.tokens ?? v.total_tokens) },
          { label: 'Cost', num: true, render: ([, v]) => money(v.cost ?? v.total_cost, history.summary.currency) },
        ], days, { caption: 'Daily usage', empty: 'No usage in this period.' })));
    } catch (err) {
      parts.push(errorBox(err));
    }
  }
  return h('div', {}, ...parts);
}
