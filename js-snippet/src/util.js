// Small shared helpers. Every listener goes through `on`, which swallows errors, so
// nothing the snippet does can throw into the host page.
export const W = window;
export const D = document;
export const P = performance;
export const M = Math;
export const L = location;
export const now = () => P.now();

// Call f(...args); never throw.
export const safe = (f, ...args) => {
  try {
    return f(...args);
  } catch {}
};

// Capturing listeners for space-separated event types on window (or another target),
// that never throw.
export const on = (types, f, target = W) =>
  types.split(' ').map((type) => target.addEventListener(type, (e) => safe(f, e), true));

export const str = (v, n) => ('' + (v ?? '')).slice(0, n);

export const rand = () => ('' + M.random()).slice(2);

// A short CSS-like selector like web-vitals' (tag, #id or up to 2 classes): up to 4
// levels up, stopping at an element with an id.
export const sel = (el, i = 4, s = el?.localName, up) =>
  (s && i
    ? el.id
      ? s + '#' + el.id
      : ((up = sel(el.parentElement, i - 1)) ? up + '>' : '') + [s, ...el.classList].slice(0, 3).join('.')
    : ''
  ).slice(0, 512);

// The navigation entry (the browser updates it as the page loads), else {}.
export const nav = P.getEntriesByType('navigation')[0] || {};
