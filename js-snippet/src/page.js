// Page views (hard loads, SPA route changes, bfcache restores), scroll depth and engaged
// time, and the hide/restore hub the other modules hang on.
import { D, M, L, on, now, rand, str, safe, navEntry } from './util.js';
import { cfg, page, push, flush } from './queue.js';
import { final, restore } from './vitals.js';

let url, depth, sentDepth, scrolled, engaged, last, visible;

// Engaged time: visible time, counting at most 10 s between two signs of activity.
const active = () => {
  engaged += visible && M.min(now() - last, 1e4);
  last = now();
};

const measure = (e = D.documentElement) =>
  (depth = M.min(M.max(depth, M.round(((scrollY + innerHeight) / e.scrollHeight) * 100) || 0), 100));

// Send what this page view gathered since its last report: scroll depth, engaged time.
const report = () => {
  active();
  safe(measure);
  scrolled && depth > sentDepth && push({ t: 'scroll', depth: (sentDepth = depth) });
  engaged >= 1 && push({ t: 'engagement', engaged_ms: M.round(engaged), scroll: depth });
  engaged = 0;
};

const pageview = (nav, ref = url) => {
  page.id && report();
  page.id = rand();
  page.off = cfg.ex?.test(L.pathname);
  depth = sentDepth = scrolled = engaged = 0;
  last = now();
  visible = !D.hidden;
  push({
    t: 'pageview',
    url: str((url = L.href), 4096),
    ref: str(nav == 'spa' ? ref : D.referrer, 4096),
    title: str(D.title, 512),
    nav,
    vw: innerWidth,
    vh: innerHeight,
    sw: screen.width,
    sh: screen.height,
    lang: navigator.language,
  });
};

// Hidden or left: finalize what is final, then send everything. Runs on both pagehide
// and visibilitychange (Chromium fires pagehide first); every report is idempotent.
const leave = () => {
  safe(final);
  report();
  visible = 0;
  flush(1);
};

export const startPage = (n = navEntry()) => {
  pageview(n.activationStart > 0 ? 'prerender' : n.type || 'navigate');
  if (cfg.spa) {
    const route = () => L.href != url && pageview('spa');
    for (const m of ['pushState', 'replaceState']) {
      const f = history[m];
      history[m] = function () {
        const r = f.apply(this, arguments);
        safe(route);
        return r;
      };
    }
    on('popstate', route);
    on('hashchange', route);
  }
  for (const t of ['pointerdown', 'keydown', 'mousemove', 'touchstart', 'scroll']) on(t, active);
  on('scroll', () => measure((scrolled = D.documentElement)));
  on('visibilitychange', () => (D.hidden ? leave() : (visible = last = now())));
  on('pagehide', leave);
  on('pageshow', (e) => e.persisted && (pageview('restore'), safe(restore, e)));
};
