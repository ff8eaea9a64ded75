// Admin (the API decides: every call here is refused with 403 for a non-admin key, and the page says so).
// Users (create, grant credits with a reason), the monitor, audit logs (filters, paging), rate-limit overrides.
import { ApiError, api, del, get, post } from '../api.js';
import { card, date, errorBox, field, fill, formOf, h, input, money, notice, num, pager, select, table } from '../ui.js';

function usersCard(users, plans) {
  const userOptions = users.map((u) => [u.user_id, `${u.username} (${u.email || u.user_id})`]);
  const who = select(userOptions, { name: 'user_id', required: true });
  const credits = input({ type: 'number', name: 'credits', min: '0.000001', step: 'any', required: true });
  const reason = input({ name: 'reason', required: true, maxlength: 500 });
  const grant = formOf('Grant credits', [field('User', who), field('Credits', credits), field('Reason (kept in the audit log)', reason)], 'Grant credits',
    async () => {
      // One idempotency key per grant: a double submit or a retry never credits twice.
      const r = await api('admin/add_credits', { method: 'POST', body: { user_id: who.value, credits: credits.value, reason: reason.value },
        extraHeaders: { 'Idempotency-Key': crypto.randomUUID() } });
      return notice(`${r.message || 'Credits added.'}${r.new_balance != null ? ` New balance ${money(r.new_balance)}.` : ''}`);
    });
  const username = input({ name: 'username', required: true, maxlength: 200 });
  const email = input({ type: 'email', name: 'email', required: true });
  const plan = select(plans.map((p) => [p.slug, p.display_name]), { name: 'plan' });
  const initial = input({ type: 'number', name: 'initial_credits', min: '0', step: '0.01', value: '10' });
  const create = formOf('Create a user', [field('Username', username), field('Email', email), field('Plan', plan), field('Welcome credits', initial)], 'Create user',
    async () => {
      const r = await post('admin/create', { username: username.value, email: email.value, plan_id: plan.value, initial_credits: initial.value });
      return h('div', {}, notice(`User ${r.username} created (${r.user_id}); reload the page to see them in the list.`),
        r.api_key ? h('p', {}, 'Their key (shown once): ', h('code', { class: 'secret' }, r.api_key)) : null);
    });
  const list = table([
    { label: 'User', render: (u) => h('span', {}, u.username, h('br'), h('code', { class: 'small' }, u.user_id)) },
    { label: 'Email', render: (u) => u.email || '—' },
    { label: 'Role', render: (u) => u.role },
    { label: 'Status', render: (u) => u.status },
  ], users, { caption: 'Users' });
  return h('section', { class: 'card wide', 'aria-labelledby': 'users-h' }, h('h2', { id: 'users-h' }, 'Users'),
    list, h('h3', {}, 'Grant credits'), grant, h('h3', {}, 'Create a user'), create);
}

function monitorCard(m) {
  return card('Monitor', h('ul', { class: 'facts' },
    h('li', {}, `System ${m.system.status}, up ${num(m.system.uptime)} s`),
    h('li', {}, `${num(m.system.active_users)} active users (24 h), ${num(m.system.total_requests)} requests in all`),
    h('li', {}, `Database ${m.database.status} (${m.database.response_time} ms)`),
    h('li', {}, `Rollups: last run ${date(m.rollups.last_run_at)}${m.rollups.lag_seconds != null ? `, lag ${m.rollups.lag_seconds} s` : ''}`)));
}

function auditCard() {
  const LIMIT = 20;
  const filters = {};
  const holder = h('div', { 'aria-live': 'polite' });
  const load = async (offset = 0) => {
    try {
      const page = await get('admin/audit-logs', { ...filters, limit: LIMIT, offset });
      fill(holder, table([
        { label: 'Time', render: (e) => date(e.timestamp) },
        { label: 'Actor', render: (e) => h('code', { class: 'small' }, e.user_id || '—') },
        { label: 'Action', render: (e) => e.action },
        { label: 'Resource', render: (e) => `${e.resource_type}${e.resource_id ? ` ${e.resource_id}` : ''}` },
        { label: 'Details', render: (e) => h('code', { class: 'small wrap' }, JSON.stringify(e.details || {})) },
      ], page.data, { caption: 'Audit log', empty: 'No entries match.' }), page.total > LIMIT ? pager(page.total, LIMIT, offset, load) : null);
    } catch (err) {
      fill(holder, errorBox(err));
    }
  };
  const actor = input({ name: 'user_id' });
  const action = input({ name: 'action', placeholder: 'e.g. credits_added' });
  const resource = input({ name: 'resource_type', placeholder: 'e.g. api_key' });
  const start = input({ type: 'date', name: 'start_date' });
  const end = input({ type: 'date', name: 'end_date' });
  const form = formOf('Filter the audit log', [field('Actor user id', actor), field('Action', action), field('Resource type', resource), field('From', start), field('To', end)], 'Apply filters',
    async () => {
      for (const [k, el] of Object.entries({ user_id: actor, action, resource_type: resource, start_date: start, end_date: end })) filters[k] = el.value.trim();
      await load(0);
      return '';
    });
  load(0);
  return h('section', { class: 'card wide', 'aria-labelledby': 'audit-h' }, h('h2', { id: 'audit-h' }, 'Audit log'), form, holder);
}

function limitsCard(users) {
  const who = select([['', 'Choose a user'], ...users.map((u) => [u.user_id, u.username])], { name: 'user' });
  const view = h('div', { 'aria-live': 'polite' });
  const show = async () => {
    if (!who.value) return fill(view);
    try {
      const r = await get(`admin/rate-limits/${encodeURIComponent(who.value)}`);
      const rpm = input({ type: 'number', name: 'rpm', min: '0', value: r.rate_limits.requests_per_minute ?? '' });
      const rph = input({ type: 'number', name: 'rph', min: '0', value: r.rate_limits.requests_per_hour ?? '' });
      const rpd = input({ type: 'number', name: 'rpd', min: '0', value: r.rate_limits.requests_per_day ?? '' });
      const reason = input({ name: 'reason', required: true, maxlength: 500 });
      const n = (el) => (el.value === '' ? null : Number(el.value));
      const set = formOf('Set an override', [field('Per minute', rpm), field('Per hour', rph), field('Per day', rpd), field('Reason', reason)], 'Save override', async () => {
        const saved = await post('admin/rate-limits', { user_id: who.value, requests_per_minute: n(rpm), requests_per_hour: n(rph), requests_per_day: n(rpd), reason: reason.value });
        await show();
        return notice(saved.message);
      });
      const removeReason = input({ name: 'remove_reason', required: true, maxlength: 500 });
      const remove = r.override ? formOf('Remove the override', [field('Reason for removing', removeReason)], 'Remove override', async () => {
        await del(`admin/rate-limits/${encodeURIComponent(who.value)}`, { reason: removeReason.value });
        await show();
        return notice('Override removed: the plan applies again.');
      }) : null;
      fill(view, 
        h('p', {}, `Source: ${r.source}. Now: ${num(r.current_usage.requests_this_minute)}/min, ${num(r.current_usage.requests_this_hour)}/h, ${num(r.current_usage.requests_this_day)}/day.`),
        h('p', { class: 'muted' }, `Plan: ${num(r.plan_limits.requests_per_minute)}/min, ${num(r.plan_limits.requests_per_hour)}/h, ${num(r.plan_limits.requests_per_day)}/day`),
        r.override ? notice(`Override by ${r.override.set_by} at ${date(r.override.set_at)}: ${r.override.reason}`) : null,
        set, remove);
    } catch (err) {
      fill(view, errorBox(err));
    }
  };
  who.addEventListener('change', show);
  return h('section', { class: 'card wide', 'aria-labelledby': 'limits-h' }, h('h2', { id: 'limits-h' }, 'Rate-limit overrides'), field('User', who), view);
}

export async function render() {
  let monitor;
  try {
    monitor = await get('admin/monitor');
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      return h('div', {}, h('h1', {}, 'Admin'), errorBox(err), h('p', {}, h('a', { href: '#/overview' }, 'Back to the overview')));
    }
    throw err;
  }
  const [roles, plans] = await Promise.all([get('roles', { limit: 500 }), get('plans')]);
  return h('div', {},
    h('h1', {}, 'Admin'),
    h('div', { class: 'grid' }, monitorCard(monitor)),
    usersCard(roles.data, plans.data),
    limitsCard(roles.data),
    auditCard());
}
