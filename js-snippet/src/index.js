// Beacon's browser snippet. Configured by data-* attributes on its script tag:
//   data-site (required), data-endpoint, data-sample, data-exclude, data-release,
//   data-localhost, data-spa="false".
// Public API: beacon('event', name, props), beacon('user', id); calls queued by the
// `beacon.q` stub before the script loaded are replayed.
import { W, D, L, safe, str } from './util.js';
import { cfg, push } from './queue.js';
import { startPage } from './page.js';
import { vitals } from './vitals.js';
import { errors } from './errors.js';
import { interactions } from './interactions.js';

const api = (cmd, name, props, clean = {}, n = 0) => {
  if (cmd == 'user') cfg.uid = str(name, 128);
  if (cmd == 'event' && name) {
    for (const k in props) {
      const v = props[k];
      const t = typeof v;
      k && !k[64] && n < 32 && (t == 'string' || t == 'boolean' || isFinite(v) && t == 'number') &&
        (clean[k] = t == 'string' ? v.slice(0, 1024) : v) && n++;
    }
    push({ t: 'custom', name: str(name, 128), props: clean });
  }
};

safe((s = D.currentScript || D.querySelector('script[data-site]'), d = s.dataset, queued = W.beacon?.q || []) => {
  const ok = d.site && (!/^(localhost|127\.|\[::1)|^$/.test(L.hostname) || d.localhost != null);
  W.beacon = (...a) => ok && safe(api, ...a);
  if (ok) {
    cfg.site = d.site;
    cfg.url = d.endpoint || (s.src && new URL(s.src).origin) + '/api/event';
    cfg.rate = d.sample ?? 1;
    cfg.release = d.release;
    cfg.spa = d.spa != 'false';
    cfg.ex = d.exclude && RegExp('^(' + d.exclude.replace(/\s/g, '').replace(/[^\w,*]/g, '\\$&').replace(/\*/g, '.*').replace(/,/g, '|') + ')$');
    const start = () => {
      [startPage, vitals, errors, interactions].map((f) => safe(f));
      queued.map((a) => safe(api, ...a));
    };
    D.prerendering ? addEventListener('prerenderingchange', start, { once: true }) : start();
  }
});
