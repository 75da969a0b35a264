// The page's only way to data: the public query and triage API, with the credentials of
// the page — the session cookie (sent by the browser; changes carry the CSRF token) or a
// shared link's key (`Authorization: Share <key>`, read-only). Answers of GETs are kept
// for a minute, so that back/forward and repeated views do not ask again.

const boot = JSON.parse(document.getElementById('boot').textContent);
const KEEP_MS = 60_000;
const answers = new Map();

export { boot };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function shareKey() {
  return new URLSearchParams(location.search).get('auth') || '';
}

function headers(change) {
  const result = { Accept: 'application/json' };
  if (boot.mode === 'share') result.Authorization = `Share ${shareKey()}`;
  if (change) {
    result['Content-Type'] = 'application/json';
    result['X-CSRF-Token'] = boot.csrf;
  }
  return result;
}

export function apiUrl(path, params) {
  const query = new URLSearchParams(params || {}).toString();
  return `/api/v1/sites/${encodeURIComponent(boot.site)}${path}${query ? `?${query}` : ''}`;
}

async function answerOf(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && (body.detail || body.message)) || `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

// GET path?params, shared by every caller asking the same within a minute (unless fresh).
export function get(path, params, { fresh = false } = {}) {
  const url = apiUrl(path, params);
  const kept = answers.get(url);
  if (kept && !fresh && performance.now() - kept.at < KEEP_MS) return kept.promise;
  const promise = fetch(url, { headers: headers(false), credentials: 'same-origin' }).then(answerOf);
  answers.set(url, { at: performance.now(), promise });
  promise.catch(() => answers.delete(url));
  if (answers.size > 200) answers.delete(answers.keys().next().value);
  return promise;
}

// A change (PATCH/POST): forgets every kept answer, since any of them may have changed.
export async function send(method, path, body) {
  const response = await fetch(apiUrl(path), {
    method,
    headers: headers(true),
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  answers.clear();
  return answerOf(response);
}
