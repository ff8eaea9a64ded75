// The public API, called with the signed-in key exactly as any client would call it.
// The key lives in sessionStorage only (never localStorage, never a URL): it is gone when the tab closes.

const KEY = 'gw.key';

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.clear(); },
  get isSandbox() { return /^gw_(test|dev)_/.test(this.key || ''); },
  get isLicense() { return /^CHA-/.test(this.key || ''); },
};

export class ApiError extends Error {
  constructor(status, message, code, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
  // The API's own words, plus when to retry for a 429.
  get text() {
    if (this.status === 429 && this.retryAfter != null) {
      const at = new Date(Date.now() + this.retryAfter * 1000).toLocaleTimeString();
      return `${this.message} Retry in ${this.retryAfter} s (at ${at}).`;
    }
    return this.message;
  }
}

// Listeners for 401 (the page goes to sign-in) and 429 (a banner says when to retry).
const handlers = { unauthorized: () => {}, limited: () => {} };
export function onAuthError(fn) { handlers.unauthorized = fn; }
export function onRateLimited(fn) { handlers.limited = fn; }

// An API error seen with the session's key: 401 signs out, 429 shows when to retry. Returns the error.
export function report(err, sessionKey = true) {
  if (err.status === 401 && sessionKey) handlers.unauthorized(err);
  if (err.status === 429) handlers.limited(err);
  return err;
}

export function url(path, params) {
  const u = new URL(path.replace(/^\//, ''), document.baseURI);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  return u;
}

export async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let code;
  try {
    const body = await response.json();
    message = body.detail || body.error?.message || message;
    code = body.error?.code;
  } catch { /* not JSON: keep the status line */ }
  const retry = response.headers.get('Retry-After');
  return new ApiError(response.status, message, code, retry == null ? null : Number(retry));
}

export function headers(extra, key = session.key) {
  const h = { Accept: 'application/json', ...extra };
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

// fetch + the error envelope: resolves to the JSON body, rejects with ApiError in the API's words.
export async function api(path, { method = 'GET', body, params, key, signal, raw = false, extraHeaders } = {}) {
  const json = body === undefined ? {} : { 'Content-Type': 'application/json' };
  const init = { method, headers: headers({ ...json, ...extraHeaders }, key), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(url(path, params), init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The gateway cannot be reached: check your connection and try again.');
  }
  if (!response.ok) throw report(await errorOf(response), key === undefined);
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export const get = (path, params) => api(path, { params });
export const post = (path, body) => api(path, { method: 'POST', body });
export const put = (path, body) => api(path, { method: 'PUT', body });
export const del = (path, params) => api(path, { method: 'DELETE', params });
