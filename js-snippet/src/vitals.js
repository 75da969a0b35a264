// Web vitals as Google's web-vitals library defines them: LCP, CLS, INP, FCP, TTFB,
// relative to prerender activation, each reported once per page load (and once per
// bfcache restore) when final, rated with web-vitals' thresholds, with its attribution
// targets. Also the navigation timing breakdown and long tasks, sent with the final
// vitals. One buffered PerformanceObserver feeds every metric.
import { W, D, P, M, on, now, sel, ms, safe, navEntry } from './util.js';
import { page, push } from './queue.js';

// [good, poor] limits (DESIGN §6).
const LIMITS = { LCP: [2500, 4e3], INP: [200, 500], CLS: [0.1, 0.25], FCP: [1800, 3e3], TTFB: [800, 1800] };

// Set up by vitals(): send the final values (page hidden or left), start again after a
// bfcache restore.
export let final, restore;

export const vitals = () => {
  const act = navEntry().activationStart || 0;
  let pid, done, lcp, lcpTarget, cls, clsWindow, session, sessionValue, worst, countBase, po;
  let fcp = -1;
  let tasks = 0;
  let tbt = 0;
  // When the page was first hidden: LCP and FCP only count paints before it.
  let hidden = D.hidden ? 0 : 1e9;
  on('visibilitychange', (e) => D.hidden && hidden == 1e9 && (hidden = e.timeStamp));
  // An entry's time relative to activation, or -1 when the page was hidden before it.
  const rel = (e) => (e.startTime < hidden ? M.max(e.startTime - act, 0) : -1);
  // Interaction count: the browser's, else the interactions seen (>= 40 ms, first input).
  const count = () => P.interactionCount ?? Object.keys(worst).length;

  const send = (name, value, target = '', attr, limit = LIMITS[name]) =>
    done[name] ||
    value < 0 ||
    (push({
      t: 'vital', pid, name, value: M.min(value, 36e5), target, attr,
      rating: value > limit[1] ? 'poor' : value > limit[0] ? 'needs-improvement' : 'good',
    }) &&
      (done[name] = 1));
  const start = () => {
    pid = page.id;
    done = {};
    lcp = -1;
    cls = sessionValue = 0;
    clsWindow = session = [];
    worst = {};
    countBase = count();
  };
  start();

  // INP: per interaction the longest event; of all interactions, the one at index
  // floor(interactions / 50) from the longest (about the 98th percentile).
  const interaction = (e, id = e.interactionId, i = worst[id]) =>
    id && (!i || e.duration > i.d ? (worst[id] = { d: e.duration, n: e.name, t: sel(e.target) }) : (i.t ||= sel(e.target)));

  const handlers = {
    // FCP: the first-contentful-paint entry, when the page was visible until then.
    paint: (e) => e.name == 'first-contentful-paint' && send('FCP', (fcp = rel(e))),
    // LCP: the latest candidate painted while visible; final at the first input or hide.
    'largest-contentful-paint': (e) =>
      done.LCP || rel(e) < 0 || ((lcp = rel(e)), (lcpTarget = e.element ? sel(e.element) : e.id && '#' + e.id)),
    // CLS: the largest session window (shifts less than 1 s apart, within 5 s) of shifts
    // without recent input; the target is the largest shift's first element source.
    'layout-shift': (e, item = [e, sel(e.sources.find((s) => s.node?.localName)?.node)]) =>
      e.hadRecentInput ||
      (sessionValue &&
      e.startTime - session[session.length - 1][0].startTime < 1e3 &&
      e.startTime - session[0][0].startTime < 5e3
        ? ((sessionValue += e.value), session.push(item))
        : ((sessionValue = e.value), (session = [item]))),
    event: interaction,
    'first-input': interaction,
    longtask: (e) => (tasks++, (tbt += M.max(e.duration - 50, 0))),
  };
  // Entries of one delivery, then (as web-vitals does per delivery) the CLS window check.
  const handle = (list) => {
    for (const e of list) safe(handlers[e.entryType], e);
    sessionValue > cls && ((cls = sessionValue), (clsWindow = session));
  };
  safe(() => {
    po = new PerformanceObserver((l) => handle(l.getEntries()));
    for (const type of PerformanceObserver.supportedEntryTypes)
      handlers[type] && po.observe({ type, buffered: true, durationThreshold: 40 });
  });
  const finalLCP = () => po && (handle(po.takeRecords()), send('LCP', lcp, lcpTarget));
  const input = (e) => e.isTrusted && (W.requestIdleCallback || setTimeout)(() => safe(finalLCP), { timeout: 1e3 });
  on('keydown', input);
  on('click', input);

  // TTFB once the page has loaded: responseStart, relative to prerender activation.
  const ttfb = (n = navEntry()) => n.responseStart && send('TTFB', M.max(n.responseStart - act, 0));
  D.readyState == 'complete' ? setTimeout(ttfb) : on('load', () => setTimeout(ttfb));

  final = (n = navEntry()) => {
    finalLCP();
    const big = clsWindow.reduce((a, b) => (a && a[0].value > b[0].value ? a : b), 0);
    fcp >= 0 && po && send('CLS', cls, big?.[1]);
    const list = Object.values(worst).sort((a, b) => b.d - a.d);
    const i = list[M.min(list.length - 1, M.floor((count() - countBase) / 50))];
    i && send('INP', i.d, i.t, { type: i.n });
    done.T ||
      (n.responseStart &&
        push({
          t: 'timing', pid,
          dns: ms(n.domainLookupEnd - n.domainLookupStart),
          tcp: ms(n.connectEnd - n.connectStart),
          tls: ms(n.secureConnectionStart && n.connectEnd - n.secureConnectionStart),
          req: ms(n.responseStart - n.requestStart),
          res: ms(n.responseEnd - n.responseStart),
          dom: ms(n.domContentLoadedEventEnd - n.responseEnd),
          load: ms(n.loadEventEnd - act),
          transfer: n.transferSize,
          longtasks: tasks,
          tbt: ms(tbt),
        }) &&
        (done.T = 1));
  };

  // bfcache restore: a new measurement; TTFB is 0, FCP and LCP the time to the next frame.
  restore = (e) => {
    start();
    done.T = 1;
    setTimeout(() => (hidden = D.hidden ? 0 : 1e9));
    send('TTFB', 0);
    requestAnimationFrame(() => requestAnimationFrame(() => send('FCP', (fcp = lcp = now() - e.timeStamp)) && send('LCP', lcp)));
  };
};
