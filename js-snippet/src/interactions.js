// Clicks (selector path; the trimmed text of the link or button clicked, so never the
// value or text of a form field), rage clicks (3 or more on the same target, each within
// 1 s of the previous one: one click event whose `rage` counts them) and form submits
// (the form's selector only).
import { on, sel, str } from './util.js';
import { push } from './queue.js';

// The last click: its target, the end of its rage window, its count, its event.
let last, time, n, rage;

export const interactions = () => {
  on('click', (e, el = e.target.closest('a,button,[role=button]'), target = sel(el || e.target)) => {
    n = target == last && e.timeStamp < time ? n + 1 : 1;
    last = target;
    time = e.timeStamp + 1e3;
    n > 3
      ? (rage.rage = n)
      : (rage = push('click', {
          target,
          rage: n > 2 && n,
          text: str(el?.textContent, 2e3).trim().replace(/\s+/g, ' ').slice(0, 256),
        }));
  });
  on('submit', (e) => push('submit', { target: sel(e.target) }));
};
