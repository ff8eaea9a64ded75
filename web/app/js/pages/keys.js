// API keys: listed masked, created with scopes and environment (the full key shown once, with a copy button),
// renamed, (de)activated and deleted, each after a confirmation. Per-key caps are shown when the listing has them.
import { del, get, post, put } from '../api.js';
import { busy, card, confirm, copy, date, dialog, errorBox, field, fill, h, input, money, num, select, table } from '../ui.js';

const SCOPES = {
  full: ['Full access (read and write everything)', { read: ['*'], write: ['*'] }],
  read: ['Read only', { read: ['*'], write: [] }],
  ai: ['AI requests (chat, images) and read', { read: ['*'], write: ['chat', 'images'] }],
};

// Per-key caps (GET /user/api-keys gives them under `caps`, and `expires_at`): shown for whichever are set.
const CAPS = [
  ['max_budget', 'budget', (v) => `${money(v)} / month`],
  ['spent_this_month', 'spent', (v) => money(v)],
  ['allowed_models', 'models', (v) => v.join(', ')],
  ['requests_per_minute', 'requests/min', num], ['requests_per_hour', 'requests/h', num],
  ['requests_per_day', 'requests/day', num], ['requests_per_month', 'requests/month', num],
  ['tokens_per_minute', 'tokens/min', num], ['tpm_limit', 'tokens/min', num], ['expires_at', 'expires', date],
];

export function capsOf(key) {
  const source = { ...(key.caps || {}), expires_at: key.expires_at, ...(key.caps ? {} : key) };
  const out = [];
  for (const [name, label, fmt] of CAPS) {
    const v = source[name];
    if (v === undefined || v === null || (Array.isArray(v) && !v.length)) continue;
    out.push(h('span', { class: 'tag' }, `${label} ${fmt(v)}`));
  }
  return out.length ? out : h('span', { class: 'muted' }, 'none');
}

const scopeText = (s) => (s ? `read: ${(s.read || []).join(', ') || '—'} · write: ${(s.write || []).join(', ') || '—'}` : '—');

function shownOnce(created) {
  const code = h('code', { class: 'secret', id: 'new-key' }, created.api_key);
  const button = h('button', { type: 'button', class: 'secondary', onclick: () => copy(created.api_key, button) }, 'Copy');
  return dialog('Your new key', h('div', { class: 'stack' },
    h('p', {}, h('strong', {}, 'Copy it now: '), 'it is shown only this once and cannot be shown again.'),
    h('div', { class: 'copy-row' }, code, button)), { ok: 'I have saved it', cancel: null });
}

export async function render(ctx) {
  // Last use comes from the rollups (GET /activity/keys: the day, trailing live traffic by about a minute); a key
  // without the activity scope still sees its list.
  const [listing, use] = await Promise.all([get('user/api-keys'), get('activity/keys').catch(() => null)]);
  const used = new Map((use?.data || []).map((u) => [u.key_id, u]));
  const out = h('div', { 'aria-live': 'polite' });

  const act = (fn) => async () => {
    try { await fn(); } catch (err) { fill(out, errorBox(err)); return; }
    ctx.refresh();
  };
  const rows = listing.data.map((k) => ({ ...k }));
  const list = table([
    { label: 'Name', render: (k) => h('span', { class: 'key-name' }, k.key_name) },
    { label: 'Key', render: (k) => h('code', {}, k.api_key) },
    { label: 'Environment', render: (k) => h('span', { class: `tag env-${k.environment_tag}` }, k.environment_tag) },
    { label: 'Scopes', render: (k) => scopeText(k.scope_permissions) },
    { label: 'Caps', render: capsOf },
    { label: 'Last used', render: (k) => {
      const u = used.get(k.id);
      if (!use) return '—';
      if (!u?.last_used) return h('span', { class: 'muted' }, `not in ${use.lookback_days} days`);
      return h('span', {}, u.last_used, h('br'), h('span', { class: 'muted small' }, `${num(u.requests_30_days)} request${u.requests_30_days === 1 ? '' : 's'} in 30 days`));
    } },
    { label: 'Status', render: (k) => (k.is_active ? 'active' : h('span', { class: 'tag off' }, 'inactive')) },
    { label: 'Actions', render: (k) => h('div', { class: 'row-actions' },
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Rename ${k.key_name}`, onclick: act(async () => {
        const name = input({ name: 'name', value: k.key_name, required: true, maxlength: 100 });
        const r = await dialog('Rename key', field('New name', name), { ok: 'Rename' });
        if (r.ok) await put(`user/api-keys/${encodeURIComponent(k.id)}`, { key_name: r.values.name });
      }) }, 'Rename'),
      h('button', { type: 'button', class: 'secondary', 'aria-label': `${k.is_active ? 'Deactivate' : 'Activate'} ${k.key_name}`, onclick: act(async () => {
        const verb = k.is_active ? 'Deactivate' : 'Activate';
        const text = k.is_active ? 'Requests with this key will be refused (within the key cache time) until you activate it again.' : 'The key will work again.';
        if (await confirm(`${verb} “${k.key_name}”?`, text, { ok: verb, danger: k.is_active })) {
          await put(`user/api-keys/${encodeURIComponent(k.id)}`, { is_active: !k.is_active });
        }
      }) }, k.is_active ? 'Deactivate' : 'Activate'),
      h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${k.key_name}`, onclick: act(async () => {
        if (await confirm(`Delete “${k.key_name}”?`, 'This cannot be undone: the key stops working for good.', { ok: 'Delete', danger: true })) {
          await del(`user/api-keys/${encodeURIComponent(k.id)}`);
        }
      }) }, 'Delete')) },
  ], rows, { caption: 'Your API keys', empty: 'No keys yet.' });

  const name = input({ name: 'key_name', required: true, maxlength: 100, placeholder: 'e.g. production server' });
  const env = select([['live', 'live'], ['test', 'test (sandbox, never charged)'], ['staging', 'staging'], ['dev', 'dev (sandbox)']], { name: 'environment' });
  const scope = select(Object.entries(SCOPES).map(([v, [label]]) => [v, label]), { name: 'scope' });
  const budget = input({ type: 'number', name: 'max_budget', min: '0', step: '0.01' });
  const models = input({ name: 'allowed_models', placeholder: 'openai/gpt-4o-mini, anthropic/*' });
  const rpm = input({ type: 'number', name: 'requests_per_minute', min: '0', step: '1' });
  const tpm = input({ type: 'number', name: 'tokens_per_minute', min: '1', step: '1' });
  const expires = input({ type: 'date', name: 'expires_at' });
  const capsBox = h('details', { class: 'caps' }, h('summary', {}, 'Caps (optional, narrower than your plan)'),
    h('div', { class: 'inline-form' }, field('Monthly budget', budget), field('Allowed models', models, 'Ids or vendor/* patterns, comma-separated.'),
      field('Requests per minute', rpm), field('Tokens per minute', tpm), field('Expires on', expires)));
  const createOut = h('div', { 'aria-live': 'polite' });
  const createButton = h('button', { type: 'submit' }, 'Create key');
  const form = h('form', { class: 'inline-form', 'aria-label': 'Create a key' },
    field('Name', name), field('Environment', env), field('Scopes', scope), createButton, capsBox, createOut);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(createButton, createOut, async () => {
      const caps = {};
      if (budget.value) caps.max_budget = budget.value;
      if (models.value.trim()) caps.allowed_models = models.value.split(',').map((m) => m.trim()).filter(Boolean);
      if (rpm.value) caps.requests_per_minute = Number(rpm.value);
      if (tpm.value) caps.tokens_per_minute = Number(tpm.value);
      const body = { key_name: name.value.trim(), environment_tag: env.value, scope_permissions: SCOPES[scope.value][1] };
      if (Object.keys(caps).length) body.caps = caps;
      if (expires.value) body.expires_at = `${expires.value}T23:59:59Z`;
      const created = await post('user/api-keys', body);
      await shownOnce(created);
      ctx.refresh();
    });
  });

  return h('div', {},
    h('h1', {}, 'API keys'),
    out,
    card('Create a key', form),
    h('section', { class: 'card wide', 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, `Your keys (${listing.count})`), list));
}
