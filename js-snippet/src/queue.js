// The event queue and its transport. Events wait in memory and leave in batches of up
// to 50: after 5 s, as soon as 25 are waiting, and when the page is hidden or left
// (navigator.sendBeacon, else fetch keepalive; a string body is text/plain, so there is
// no CORS preflight). A timed send that fails (network, status >= 500) is retried at most 3 times with back-off; the
// queue keeps at most 500 events, dropping the oldest.
import { W, safe } from './util.js';
import { session } from './session.js';

// site, url (endpoint), rate (sample), uid, release, ex (excluded paths), spa
export const cfg = {};
// id (pid of the current page view), off (excluded page)
export const page = {};
const fetch0 = W.fetch;
let queue = [];
let sid;
let timer;
let fails = 0;

export const push = (e, s = session()) => {
  if (!page.off && s.s < cfg.rate) {
    s.i != sid && flush();
    sid = s.i;
    e.ts = Date.now();
    e.pid ||= page.id;
    queue.push(e) > 500 && queue.shift();
    queue[24] && !fails ? flush() : (timer ||= setTimeout(flush, 5e3));
    return e;
  }
};

export const flush = (leaving, events, body) => {
  clearTimeout(timer);
  timer = 0;
  while ((events = queue.splice(0, 50))[0]) {
    body = JSON.stringify({ site: cfg.site, sid, sent_at: Date.now(), uid: cfg.uid, events });
    const retry = () =>
      ++fails < 4 ? ((queue = events.concat(queue).slice(-500)), (timer ||= setTimeout(flush, 5e3 * fails))) : (fails = 0);
    (leaving && safe(() => navigator.sendBeacon(cfg.url, body))) ||
      safe(() =>
        fetch0(cfg.url, { method: 'POST', body, keepalive: leaving }).then(
          (r) => (r.status > 499 ? leaving || retry() : (fails = 0)),
          () => leaving || retry(),
        ),
      );
  }
};
