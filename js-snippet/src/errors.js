// Errors: uncaught errors, unhandled rejections (of any value), failed fetch and XHR
// (network failure or status >= 500; the URL without query string) and resource load
// failures (img, script, link, media). At most 100 per page load.
import { W, M, L, on, now, str, safe } from './util.js';
import { push } from './queue.js';
import { release } from './config.js';

let count = 0;

// A thrown value or rejection reason: an Error-like object (name, message, stack), or
// anything else as text.
const error = (kind, v, extra) =>
  count++ < 100 &&
  push('error', {
    kind,
    type: str(v?.name, 128),
    message: str(v?.message ?? v, 4096),
    stack: str(v?.stack, 32768),
    release,
    ...extra,
  });

// An absolute URL without query string or fragment.
const clean = (u) => str(new URL(u, L).href.split(/[?#]/)[0], 4096);

// A request's failure reporter, given the status (0 for a network failure) and the
// error (the status, or the network failure: an error or its message). The server titles
// these errors from method, URL and status.
const track =
  (kind, method, url, t0 = now()) =>
  (status, e = status) =>
    error(kind, e, { method: str(method || 'GET', 16), req_url: clean(url), status, duration: now() - t0 });

export const errors = () => {
  on('error', (e, el = e.target) =>
    el == W
      ? error('error', e.error || e, { file: str(e.filename, 4096), line: e.lineno, col: M.min(e.colno, 1e6) })
      : (el = el.src || el.href) && error('resource', (el = clean(el)), { file: el }),
  );
  on('unhandledrejection', (e) => error('rejection', e.reason));

  // fetch and XHR exist wherever this (ES2022) script runs.
  const f = W.fetch;
  W.fetch = (input, init, p = f(input, init), fail = track('fetch', init?.method || input?.method, input?.url || input)) => (
    p.then((r) => r.status > 499 && fail(r.status), (e) => e.name != 'AbortError' && fail(0, e)).catch(safe), p
  );

  const X = XMLHttpRequest.prototype;
  const open = X.open;
  X.open = function (method, url) {
    const fail = track('xhr', method, url);
    on('load error', (e, s = this.status) => (s > 499 || !s) && fail(s, s || 'network error'), this);
    return open.apply(this, arguments);
  };
};
