// Clicks (selector path and trimmed text; never the value or text of form fields),
// rage clicks (3 or more on the same target, each within 1 s of the previous one: one
// click event whose `rage` counts them) and form submits (the form's selector only).
import { on, sel, str } from './util.js';
import { push } from './queue.js';

const FIELDS = 'input,textarea,select,[contenteditable]';

export const interactions = (last, time, n, rage) => {
  on('click', (e, el = e.target) => {
    const target = sel((el = el.closest('a,button,[role=button],label,summary') || el));
    n = target == last && e.timeStamp - time < 1e3 ? n + 1 : 1;
    last = target;
    time = e.timeStamp;
    n > 3
      ? (rage.rage = n)
      : (rage = push({
          t: 'click', target, rage: n > 2 && n,
          text: n > 2 || el.matches(FIELDS) || el.querySelector(FIELDS) ? '' : str(el.textContent, 2e3).trim().replace(/\s+/g, ' ').slice(0, 256),
        }));
  });
  on('submit', (e) => push({ t: 'submit', target: sel(e.target) }));
};
