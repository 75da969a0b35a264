// Session id in sessionStorage (in memory when storage throws), rotated after 30 minutes
// without events. The sampling draw is kept with the session: one decision per session.
import { M, rand, safe } from './util.js';

let mem;

export const session = (t = Date.now(), v = safe(() => JSON.parse(sessionStorage.beacon)) || mem) => {
  t - v?.t < 18e5 || (v = { i: rand(), s: M.random() });
  v.t = t;
  safe(() => (sessionStorage.beacon = JSON.stringify(v)));
  return (mem = v);
};
