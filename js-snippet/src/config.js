// Configuration: the data-* attributes of the snippet's script tag, read as it runs.
import { D, L, str } from './util.js';

const s = D.currentScript;
const d = s?.dataset || {};

// Report from this page: it has a site key, and is not on localhost (127.*, [::1], file:)
// unless data-localhost is there.
export const ok = d.site && (!/^(localhost|127\.|\[::1)|^$/.test(L.hostname) || d.localhost != null);
export const site = d.site;
// Where batches go: data-endpoint, else /api/event on the script's origin.
export const url = d.endpoint || new URL('/api/event', s?.src || L);
// The share of sessions that report.
export const rate = d.sample ?? 1;
export const release = str(d.release, 128);
export const spa = d.spa != 'false';
// data-exclude: comma-separated path patterns where * is anything.
export const ex = d.exclude && RegExp('^(' + d.exclude.replace(/\W/g, (c) => ({ '*': '.*', ',': '|', ' ': '' })[c] ?? '\\' + c) + ')$');
