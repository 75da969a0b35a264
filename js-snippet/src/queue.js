// The event queue and its transport. Events wait in memory and leave in batches of up to
// 50: after 5 s, as soon as 25 are waiting, and when the page is hidden or left
// (navigator.sendBeacon, else fetch keepalive; a string body is text/plain, so there is
// no CORS preflight). A batch that fetch fails to deliver (network, status >= 500) goes
// back to the front of the queue and is retried with back-off, up to 3 failures in a row
// (while failing, the queue is not flushed on size); the queue keeps at most 500 events,
// dropping the oldest.
import { W, L, safe, str, rand } from './util.js';
import { session } from './session.js';
import { site, url, rate, ex } from './config.js';

// The user id (beacon('user', id)); the current page view's id and exclusion.
export let uid, pid, off;
// The page's own fetch, before errors() wraps it: our requests are not page errors.
const fetch0 = W.fetch;
let queue = [];
let sid;
let timer;
let fails = 0;

export const newPage = () => {
  pid = rand();
  off = ex?.test(L.pathname);
};

export const push = (t, e, s = session()) => {
  if (!off && s.s < rate) {
    s.i != sid && flush();
    sid = s.i;
    e.t = t;
    e.ts = s.t;
    e.pid ||= pid;
    queue = [...queue, e].slice(-500);
    queue[24] && !fails ? flush() : (timer ||= setTimeout(flush, 5e3));
    return e;
  }
};

// One batch.
const send = (leaving, events, body = JSON.stringify({ site, sid, sent_at: Date.now(), uid, events })) => {
  const retry = () => fails++ < 3 && ((queue = [...events, ...queue].slice(-500)), (timer ||= setTimeout(flush, 5e3 * fails)));
  (leaving && safe(() => navigator.sendBeacon(url, body))) ||
    safe(() => fetch0(url, { method: 'POST', body, keepalive: leaving }).then((r) => (r.status > 499 ? retry() : (fails = 0)), retry));
};

export const flush = (leaving) => {
  clearTimeout(timer);
  timer = 0;
  while (queue[0]) send(leaving, queue.splice(0, 50));
};

// The public API: beacon('user', id), beacon('event', name, props).
export const api = (cmd, name, props, clean = {}, n = 0) => {
  cmd == 'user' && (uid = str(name, 128));
  if (cmd == 'event' && name) {
    // At most 32 props: string (up to 1024 characters), boolean or finite number.
    for (const k in props) {
      const v = props[k];
      const t = typeof v;
      k && !k[64] && n < 32 && (t == 'string' || t == 'boolean' || Number.isFinite(v)) &&
        ((clean[k] = t == 'string' ? v.slice(0, 1024) : v), n++);
    }
    push('custom', { name: str(name, 128), props: clean });
  }
};
