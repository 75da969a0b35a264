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
  } catch (e) {}
};

// A capturing listener on window (or another target) that never throws.
export const on = (type, f, target = W) => target.addEventListener(type, (e) => safe(f, e), true);

// A duration clamped into the protocol's range (0 to 24 h).
export const ms = (v) => M.min(M.max(v, 0) || 0, 864e5);

export const str = (v, n) => ('' + (v ?? '')).slice(0, n);

export const rand = () => M.random().toString(36).slice(2);

// A short CSS-like selector: up to 4 levels up, stopping at an element with an id; at
// most 2 classes; :nth-of-type(n) for an element with n - 1 earlier siblings of its tag
// (without it, querySelector finds the first of them: the same element).
export const sel = (el) => {
  let out = [];
  for (let i = 4, s, n, x; el && el.localName && i--; el = el.parentElement) {
    s = el.localName;
    if (el.id) {
      out.unshift(s + '#' + el.id);
      break;
    }
    for (n = 1, x = el; (x = x.previousElementSibling); ) x.localName == s && n++;
    out.unshift(s + [...el.classList].slice(0, 2).map((c) => '.' + c).join('') + (n > 1 ? ':nth-of-type(' + n + ')' : ''));
  }
  return out.join('>').slice(0, 512);
};

// The navigation entry when the browser gives a valid one (web-vitals' check), else {}.
export const navEntry = (n) =>
  (n = P.getEntriesByType('navigation')[0]) && n.responseStart > 0 && n.responseStart < now() ? n : {};
