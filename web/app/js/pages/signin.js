// Sign in with an API key (checked with GET /user/balance), or with Privy's email code where the gateway has
// PRIVY_APP_ID (GET /auth/config says so; hidden otherwise). Either way the session holds one gateway key.
import { ApiError, api, get, session } from '../api.js';
import { busy, errorBox, field, fill, h, input, notice } from '../ui.js';

const PRIVY = 'https://auth.privy.io/api/v1';

async function privyCall(appId, path, body) {
  const response = await fetch(`${PRIVY}/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'privy-app-id': appId },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, `Privy: ${data.error || data.message || response.statusText}`);
  return data;
}

function privyForm(appId, done) {
  const email = input({ type: 'email', name: 'email', autocomplete: 'email', required: true });
  const code = input({ name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code' }); // required once shown
  const codeField = field('Code from the email', code);
  codeField.hidden = true;
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Email me a code');
  const form = h('form', { class: 'stack', 'aria-label': 'Sign in with Privy' }, field('Email', email), codeField, button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(button, out, async () => {
      if (codeField.hidden) {
        await privyCall(appId, 'passwordless/init', { email: email.value });
        codeField.hidden = false;
        code.required = true;
        button.textContent = 'Sign in';
        fill(out, notice(`A code was sent to ${email.value}.`));
        code.focus();
        return;
      }
      const privy = await privyCall(appId, 'passwordless/authenticate', { email: email.value, code: code.value });
      const signedIn = await api('auth/privy', { method: 'POST', body: { token: privy.token, auth_method: 'email' }, key: null });
      session.set(signedIn.api_key);
      done();
    });
  });
  return form;
}

export async function render({ flash, done }) {
  const key = input({ type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true,
    placeholder: 'gw_live_… or CHA-…' });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'stack', 'aria-label': 'Sign in with an API key' },
    field('API key', key, 'Kept in this tab only (sessionStorage): closing the tab or signing out forgets it.'), button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(button, out, async () => {
      const candidate = key.value.trim();
      await api('user/balance', { key: candidate }); // 401 in the API's words when the key is wrong
      session.set(candidate);
      done();
    });
  });
  const page = h('div', { class: 'signin' },
    h('h1', {}, 'Sign in'),
    flash ? notice(flash) : null,
    h('section', { class: 'card' }, h('h2', {}, 'With an API key'), form));
  try {
    const config = await get('auth/config');
    if (config.privy_enabled && config.privy_app_id) {
      page.append(h('section', { class: 'card', id: 'privy' }, h('h2', {}, 'With Privy'),
        h('p', { class: 'muted' }, 'Sign in with your email; a session key valid for ',
          Math.round(config.session_ttl_seconds / 3600), ' h is created for this tab.'),
        privyForm(config.privy_app_id, done)));
    }
  } catch (err) {
    page.append(errorBox(err));
  }
  return page;
}
