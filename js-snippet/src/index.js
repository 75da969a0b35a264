// Beacon's browser snippet. Configured by data-* attributes on its script tag:
//   data-site (required), data-endpoint, data-sample, data-exclude, data-release,
//   data-localhost, data-spa="false".
// Public API: beacon('event', name, props), beacon('user', id); calls queued by the
// `beacon.q` stub before the script loaded (or while the page is prerendered) are
// replayed once it starts.
import { W, D, safe, on } from './util.js';
import { ok } from './config.js';
import { api } from './queue.js';
import { startPage } from './page.js';
import { errors } from './errors.js';
import { interactions } from './interactions.js';

safe(() => {
  const start = () => {
    // (safe(f, index, array): the start functions ignore their arguments.)
    [startPage, errors, interactions].map(safe);
    W.beacon?.q?.map((a) => safe(api, ...a));
    W.beacon = (...a) => safe(api, ...a);
  };
  // On a page that does not report, beacon() does nothing; while the page is prerendered,
  // calls wait in the stub's queue.
  ok
    ? D.prerendering
      ? on('prerenderingchange', start)
      : start()
    : (W.beacon = safe); // a no-op: it swallows the TypeError of calling a string
});
