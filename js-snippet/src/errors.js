// Errors: uncaught errors, unhandled rejections (of any value), failed fetch and XHR
// (network failure or status >= 500; the URL without query string) and resource load
// failures (img, script, link, media). At most 100 per page load.
import { W, M, L, on, now, str, ms, safe } from './util.js';
import { cfg, push } from './queue.js';

let count = 0;

const error = (kind, type, message, extra) =>
  count++ < 100 &&
  push({ t: 'error', kind, type: str(type, 128), message: str(message, 4096), release: cfg.release, ...extra });

// A thrown value or rejection reason: an Error-like object, or anything else as text.
const thrown = (kind, v, extra) =>
  error(kind, v?.name, v instanceof Object ? v.message ?? safe(JSON.stringify, v) : v, {
    stack: str(v?.stack, 32768),
    ...extra,
  });

// An absolute URL without query string or fragment.
const clean = (u) => str(new URL(u, L).href.split(/[?#]/)[0], 4096);

// A failed request: `status` 0 and `e` the error for a network failure.
const request = (kind, method, url, t0, status, e) =>
  error(kind, e ? e.name : 'HTTPError', (method = str(method || 'GET', 16).toUpperCase()) + ' ' + (url = clean(url)) + ' ' + (status || e.message), {
    method, req_url: url, status, duration: ms(now() - t0),
  });

export const errors = () => {
  on('error', (e, el = e.target) =>
    el == W
      ? thrown('error', e.error || e, { file: str(e.filename, 4096), line: M.min(e.lineno | 0, 1e6), col: M.min(e.colno | 0, 1e6) })
      : (el = el.src || el.href) && error('resource', 'ResourceError', 'Failed to load ' + clean(el), { file: str(el, 4096) }),
  );
  on('unhandledrejection', (e) => thrown('rejection', e.reason));

  const f = W.fetch;
  if (f)
    W.fetch = function (input, init) {
      const t0 = now();
      const p = f.apply(this, arguments);
      const fail = (status, e) => request('fetch', init?.method || input.method, input.url || input, t0, status, e);
      p.then((r) => r.status > 499 && fail(r.status), (e) => e.name != 'AbortError' && fail(0, e)).catch(safe);
      return p;
    };

  const X = W.XMLHttpRequest?.prototype;
  const open = X?.open;
  if (open)
    X.open = function (method, url) {
      const t0 = now();
      on('load', () => this.status > 499 && request('xhr', method, url, t0, this.status), this);
      on('error', () => request('xhr', method, url, t0, 0, { name: 'NetworkError', message: 'Network error' }), this);
      return open.apply(this, arguments);
    };
};
