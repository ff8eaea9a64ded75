// The shell: hash routes (#/keys), the navigation, sign-in state, and the API's 401 / 429 handling.
import { ApiError, get, onAuthError, onRateLimited, session } from './api.js';
import { errorBox, fill, h } from './ui.js';

const PAGES = {
  overview: ['Overview', () => import('./pages/overview.js')],
  keys: ['Keys', () => import('./pages/keys.js')],
  usage: ['Usage', () => import('./pages/usage.js')],
  billing: ['Billing', () => import('./pages/billing.js')],
  models: ['Models', () => import('./pages/models.js')],
  playground: ['Playground', () => import('./pages/playground.js')],
  admin: ['Admin', () => import('./pages/admin.js')],
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const banner = document.getElementById('banner');

// What the signed-in key is: its balance answer (user id, masked key) and whether the API lets it do admin things.
export const me = { balance: null, admin: false };

export function signOut(message) {
  session.clear();
  me.balance = null;
  me.admin = false;
  sessionStorage.setItem('gw.flash', message || '');
  if (location.hash === '#/signin') route();
  else location.hash = '#/signin'; // hashchange renders it
}

// Once: a page's parallel calls may all answer 401, and a second sign-out would render sign-in again without the message.
onAuthError((err) => { if (session.key) signOut(`Signed out: ${err.message}`); });
onRateLimited((err) => {
  fill(banner, h('div', { class: 'notice warn' }, err.text));
});

async function identify() {
  me.balance = await get('user/balance');
  try {
    await get('admin/monitor');
    me.admin = true;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
    me.admin = false;
  }
}

function renderNav(current) {
  nav.hidden = false;
  fill(nav, h('ul', {}, Object.entries(PAGES)
    .filter(([name]) => name !== 'admin' || me.admin)
    .map(([name, [label]]) => h('li', {}, h('a', { href: `#/${name}`, 'aria-current': name === current ? 'page' : null }, label)))));
  fill(who, 
    h('span', { class: 'muted key', title: 'The key you signed in with' }, me.balance?.api_key || ''),
    session.isSandbox ? h('span', { class: 'tag sandbox' }, 'sandbox') : null,
    h('button', { type: 'button', class: 'secondary', onclick: () => signOut('Signed out.') }, 'Sign out'));
}

export async function route() {
  const name = (location.hash.replace(/^#\/?/, '').split('?')[0]) || 'overview';
  fill(banner);
  if (!session.key || name === 'signin') {
    nav.hidden = true;
    fill(who);
    const { render } = await import('./pages/signin.js');
    const flash = sessionStorage.getItem('gw.flash');
    sessionStorage.removeItem('gw.flash');
    document.title = 'Sign in · AI Gateway';
    fill(main, await render({ flash, done: () => { location.hash = '#/overview'; } }));
    return;
  }
  fill(main, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  try {
    if (!me.balance) await identify();
    const page = PAGES[name];
    renderNav(name);
    if (!page) {
      fill(main, h('h1', {}, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
      return;
    }
    document.title = `${page[0]} · AI Gateway`;
    const { render } = await page[1]();
    const node = await render({ me, refresh: () => { me.balance = null; return route(); } });
    fill(main, node);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // signOut already moved to sign-in
    fill(main, h('h1', {}, 'Something went wrong'), errorBox(err));
  }
}

window.addEventListener('hashchange', () => { route().then(() => main.focus({ preventScroll: true })); });
route();
