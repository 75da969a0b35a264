// Page views (hard loads, SPA route changes, bfcache restores), scroll depth and engaged
// time, and the hide/restore hub the other modules hang on.
import { D, M, L, on, now, str, safe, nav } from './util.js';
import { pid, newPage, push, flush } from './queue.js';
import { spa } from './config.js';
import { vitals, final } from './vitals.js';

let url, depth, sentDepth, scrolled, engaged, last, visible;

// Engaged time: visible time, counting at most 10 s between two signs of activity.
const active = () => {
  engaged += visible && M.min(now() - last, 1e4);
  last = now();
};

const measure = () =>
  (depth = M.min(M.max(depth, M.round(((scrollY + innerHeight) / D.documentElement.scrollHeight) * 100) || 0), 100));

// Send what this page view gathered since its last report: scroll depth, engaged time.
const report = () => {
  active();
  measure();
  scrolled && depth > sentDepth && push('scroll', { depth: (sentDepth = depth) });
  engaged >= 1 && push('engagement', { engaged_ms: engaged | 0, scroll: depth });
  engaged = 0;
};

const pageview = (nav) => {
  pid && report();
  newPage();
  depth = sentDepth = scrolled = engaged = 0;
  last = now();
  visible = !D.hidden;
  push('pageview', {
    ref: str(nav == 'spa' ? url : D.referrer, 4096),
    url: str((url = L.href), 4096),
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

export const startPage = () => {
  pageview(nav.activationStart > 0 ? 'prerender' : nav.type);
  safe(vitals);
  if (spa) {
    const route = () => L.href != url && pageview('spa');
    ['pushState', 'replaceState'].map(
      (m, i, a, f = history[m]) =>
        (history[m] = (...a) => {
          f.apply(history, a);
          safe(route);
        }),
    );
    on('popstate hashchange', route);
  }
  on('pointerdown keydown', active);
  on('scroll', () => {
    scrolled = 1;
    active();
    measure();
  });
  on('visibilitychange', () => (D.hidden ? leave() : (visible = last = now())));
  on('pagehide', leave);
  on('pageshow', (e) => e.persisted && (pageview('restore'), vitals(e)));
};
