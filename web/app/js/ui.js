// Small DOM helpers: elements, labelled fields, tables, dialogs, money and dates.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

// replaceChildren that skips null/false/undefined, as h() does.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let uid = 0;
// A labelled input: <label for> + control (+ hint); returns the wrapper, with .input pointing at the control.
export function field(label, control, hint) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), control, hint && h('small', { id: hintId, class: 'muted' }, hint));
  wrap.input = control;
  return wrap;
}

export const input = (attrs) => h('input', { type: 'text', ...attrs });
export function select(options, attrs) {
  return h('select', attrs, options.map((o) => (Array.isArray(o) ? h('option', { value: o[0] }, o[1]) : h('option', { value: o }, o))));
}

export function table(columns, rows, { caption, empty = 'Nothing yet.' } = {}) {
  if (!rows.length) return h('p', { class: 'muted empty' }, empty);
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'table' },
    h('table', {},
      caption && h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : '' }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.num ? 'num' : '', 'data-label': c.label }, c.render ? c.render(r) : r[c.key])))))));
}

export function card(title, ...body) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), ...body);
}

// Money as the API gives it: 2 decimals when that is exact, else every decimal the number has (never rounded away).
export function money(value, currency) {
  if (value === null || value === undefined) return '—';
  const n = Number(value);
  const cents = Math.round(n * 100);
  let text = Math.abs(n * 100 - cents) < 1e-7 ? (cents / 100).toFixed(2) : n.toFixed(10).replace(/0+$/, '');
  if (text === '-0.00') text = '0.00';
  return currency ? `${text} ${currency.toUpperCase()}` : text;
}

export const num = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
export function date(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, err.text || err.message || String(err));
}

export function notice(text, kind = 'info') {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// Runs an async action from a form/button: disables it, shows the API's message on failure in `out`.
export async function busy(button, out, fn) {
  button.disabled = true;
  if (out) fill(out);
  try {
    return await fn();
  } catch (err) {
    if (out) fill(out, errorBox(err));
    else throw err;
  } finally {
    button.disabled = false;
  }
}

// An inline form: its controls, a submit button, and a live region that shows what `action` resolves to (or its error).
export function formOf(label, controls, submit, action) {
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, submit);
  const form = h('form', { class: 'inline-form', 'aria-label': label }, ...controls, button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(button, out, async () => fill(out, await action()));
  });
  return form;
}

// A modal dialog; resolves to the button value ('ok' / 'cancel') or the form's values.
export function dialog(title, body, { ok = 'OK', cancel = 'Cancel', danger = false } = {}) {
  return new Promise((resolve) => {
    const titleId = `d${++uid}`;
    const form = h('form', { method: 'dialog' },
      h('h2', { id: titleId }, title),
      body,
      h('div', { class: 'actions' },
        cancel && h('button', { type: 'submit', value: 'cancel', class: 'secondary', formnovalidate: true }, cancel),
        h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : '' }, ok)));
    const dlg = h('dialog', { 'aria-labelledby': titleId }, form);
    dlg.addEventListener('close', () => {
      const values = Object.fromEntries(new FormData(form));
      dlg.remove();
      resolve(dlg.returnValue === 'ok' ? { ok: true, values } : { ok: false });
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export const confirm = (title, text, opts) => dialog(title, h('p', {}, text), opts).then((r) => r.ok);

export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy it';
  }
}

export function pager(total, limit, offset, go) {
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return h('nav', { class: 'pager', 'aria-label': 'Pages of results' },
    h('button', { type: 'button', class: 'secondary', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, 'Previous'),
    h('span', {}, `Page ${page} of ${pages} (${num(total)})`),
    h('button', { type: 'button', class: 'secondary', disabled: offset + limit >= total, onclick: () => go(offset + limit) }, 'Next'));
}
