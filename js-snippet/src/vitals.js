// Web vitals as Google's web-vitals library defines them: LCP, CLS, INP, FCP, TTFB,
// relative to prerender activation, with their attribution targets; all sent once per
// page load and once per bfcache restore, when final: the first time the page is hidden
// or left. The server rates them (app/ingest/expand.py). Also the navigation timing
// breakdown and long tasks, sent with them. One buffered PerformanceObserver feeds every
// metric.
import { D, P, M, now, sel, safe, nav as n } from './util.js';
import { pid as pageId, push } from './queue.js';

// Sends the final values of the current measurement (page hidden or left).
export let final;
// The timing breakdown was sent (once: not again after a bfcache restore).
let timed;

// A measurement of the page view just started: the page load, or with `restored` (the
// pageshow event) a bfcache restore: then TTFB is 0, FCP and LCP the time to the next
// frame, and only new entries count.
export const vitals = (restored) => {
  const act = n.activationStart || 0;
  const pid = pageId;
  // LCP and FCP only count paints before the page was first hidden: none when it loaded
  // hidden; the values are sent when it is first hidden.
  const hidden = D.hidden;
  let sent, lcpTarget, winFirst, winLast, winBig, winValue;
  let fcp = -1;
  let lcp = -1;
  let cls = 0;
  let clsBig = {};
  let worst = {};
  let tasks = 0;
  let tbt = 0;
  // TTFB: responseStart (known before this script runs), relative to prerender activation.
  const ttfb = restored ? 0 : M.max(n.responseStart - act, 0);
  // An entry's time relative to activation, or -1.
  const rel = (e) => (hidden ? -1 : M.max(e.startTime - act, 0));
  // A metric, unless unknown (NaN or -1).
  const send = (name, value, target, attr) => value >= 0 && push('vital', { pid, name, value: M.min(value, 36e5), target, attr });

  // INP: per interaction the longest event; of all interactions, the one at index
  // floor(interactions / 50) from the longest (about the 98th percentile; the browser's
  // count of interactions on this page, since the load).
  const interaction = (e, id = e.interactionId) => id && !(worst[id]?.duration >= e.duration) && (worst[id] = e);

  const handlers = {
    // FCP: the first-contentful-paint entry, when the page was visible until then.
    paint: (e) => e.name == 'first-contentful-paint' && (fcp = rel(e)),
    // LCP: the latest candidate painted while visible (the browser stops at the first
    // input).
    'largest-contentful-paint': (e) => rel(e) < 0 || ((lcp = rel(e)), (lcpTarget = sel(e.element))),
    // CLS: the largest session window (shifts less than 1 s apart, within 5 s) of shifts
    // without recent input; its largest shift gives the target.
    'layout-shift': (e, t = e.startTime) =>
      e.hadRecentInput ||
      (winValue && t - winLast < 1e3 && t - winFirst < 5e3 ? (winValue += e.value) : ((winValue = e.value), (winFirst = t), (winBig = e)),
      (winLast = t),
      e.value < winBig.value || (winBig = e)),
    event: interaction,
    'first-input': interaction,
    longtask: (e) => (tasks++, (tbt += e.duration - 50)),
  };
  // Entries of one delivery, then (as web-vitals does per delivery) the CLS window check.
  const handle = (list) => {
    for (const e of list) handlers[e.entryType](e);
    winValue > cls && ((cls = winValue), (clsBig = winBig));
  };

  restored && requestAnimationFrame(() => requestAnimationFrame(() => (fcp = lcp = now() - restored.timeStamp)));
  // Where PerformanceObserver is missing, this throws (into the caller's safe()): no
  // vitals.
  // (An earlier measurement's observer keeps feeding its own, sent, values.)
  const po = new PerformanceObserver((l) => safe(handle, l.getEntries()));
  for (const type in handlers) po.observe({ type, buffered: !restored, durationThreshold: 40 });

  final = () => {
    if (!sent) {
      sent = 1;
      handle(po.takeRecords());
      send('TTFB', ttfb);
      send('FCP', fcp);
      send('LCP', lcp, lcpTarget);
      // CLS (reported once there was a first paint): target is the largest shift's first
      // element source.
      fcp >= 0 && send('CLS', cls, sel(clsBig.sources?.[0]?.node));
      const list = Object.values(worst).sort((a, b) => b.duration - a.duration);
      const i = list[(P.interactionCount / 50) | 0] || list.at(-1);
      i && send('INP', i.duration, sel(i.target), { type: i.name });
      timed ||=
        n.responseStart &&
        push('timing', {
          pid,
          dns: n.domainLookupEnd - n.domainLookupStart,
          tcp: n.connectEnd - n.connectStart,
          tls: n.secureConnectionStart && n.connectEnd - n.secureConnectionStart,
          req: n.responseStart - n.requestStart,
          res: M.max(n.responseEnd - n.responseStart, 0),
          dom: M.max(n.domContentLoadedEventEnd - n.responseEnd, 0),
          load: M.max(n.loadEventEnd - act, 0),
          transfer: n.transferSize,
          longtasks: tasks,
          tbt,
        });
    }
  };
};
