// Pieces shared by the views: cards with loading and error states, the period and zone
// controls, filter chips, bar lists, tab groups, rating bars and sparklines.

import { ApiError, send } from './api.js';
import { h, replace, svg, width } from './dom.js';
import { percent, rating, vital } from './format.js';
import {
  DIMENSION_LABELS, PERIODS, browserZone, current, filters, withParams, withoutFilter,
} from './state.js';

export function card(title, { id, actions, wide } = {}) {
  const body = h('div', { class: 'card-body', 'aria-busy': 'true' }, loading());
  const heading = h('h2', { id: id ? `${id}-title` : undefined }, title);
  const el = h('section', {
    class: `card${wide ? ' wide' : ''}`, id, 'aria-labelledby': id ? `${id}-title` : undefined,
  }, h('header', { class: 'card-head' }, heading, actions || null), body);
  return { el, body, heading };
}

export function loading() {
  return h('p', { class: 'loading' }, 'Loading…');
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

export function failure(error) {
  const text = error instanceof ApiError ? error.message : 'The server could not be reached.';
  return h('p', { class: 'error', role: 'alert' }, `Could not load: ${text}`);
}

// Runs `load()` and puts what `draw(data)` returns into `body`; keeps the old content
// (dimmed) while a new answer is on its way, and drops answers that came too late.
export async function fill(body, load, draw) {
  const ticket = (body.ticket = (body.ticket || 0) + 1);
  body.setAttribute('aria-busy', 'true');
  body.classList.add('busy');
  let content;
  try {
    const data = await load();
    if (ticket !== body.ticket) return;
    content = draw(data);
  } catch (error) {
    if (ticket !== body.ticket) return;
    console.warn(error);
    content = failure(error);
  }
  replace(body, content);
  body.classList.remove('busy');
  body.setAttribute('aria-busy', 'false');
}

// A change from a button or form: PATCH `path` with `body`, say so in `status` (`done`,
// or why it failed), then `reload()` the view.
export async function patchAndReload(status, path, body, done, reload) {
  status.textContent = 'Saving…';
  try {
    await send('PATCH', path, body);
    status.textContent = done;
    reload();
  } catch (error) {
    replace(status, failure(error));
  }
}

export function tabs(label, options, chosen, onChoose) {
  return h('div', { class: 'tabs', role: 'group', 'aria-label': label },
    options.map(([key, text]) => h('button', {
      type: 'button', class: 'tab', 'aria-pressed': String(key === chosen),
      onclick: () => onChoose(key),
    }, text)));
}

// ICU lists some zones by their old names; the IANA database (and Python) has both.
const MODERN_ZONES = {
  'Asia/Calcutta': 'Asia/Kolkata', 'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh', 'Asia/Rangoon': 'Asia/Yangon',
  'Europe/Kiev': 'Europe/Kyiv', 'Atlantic/Faeroe': 'Atlantic/Faroe',
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires', 'Pacific/Truk': 'Pacific/Chuuk',
  'Pacific/Ponape': 'Pacific/Pohnpei', 'America/Godthab': 'America/Nuuk',
};

// The period select (with custom dates) and the time zone, for views with a period.
export function periodControls(state, go) {
  const period = state.get('from') ? 'custom' : state.get('period', '7d');
  const custom = h('form', {
    class: 'custom-range', hidden: period !== 'custom',
    onsubmit: (event) => {
      event.preventDefault();
      const data = new FormData(event.target);
      go(withParams(state, { period: null, from: data.get('from'), to: data.get('to'), offset: null }));
    },
  },
  h('label', { for: 'range-from' }, 'From'),
  h('input', { id: 'range-from', name: 'from', type: 'date', required: true, value: state.get('from') }),
  h('label', { for: 'range-to' }, 'to'),
  h('input', { id: 'range-to', name: 'to', type: 'date', required: true, value: state.get('to') }),
  h('button', { type: 'submit', class: 'small' }, 'Apply'));
  const select = h('select', {
    id: 'period', 'aria-label': 'Period',
    onchange: (event) => {
      const value = event.target.value;
      if (value === 'custom') {
        custom.hidden = false;
        custom.querySelector('input').focus();
        return;
      }
      go(withParams(state, { period: value, from: null, to: null, offset: null }));
    },
  }, PERIODS.map(([key, text]) => h('option', { value: key, selected: key === period }, text)));
  const zone = state.get('tz') || browserZone();
  let zones = [];
  try {
    zones = Intl.supportedValuesOf('timeZone').map((name) => MODERN_ZONES[name] || name);
  } catch {
    zones = [];
  }
  if (!zones.includes('UTC')) zones = ['UTC', ...zones];
  if (!zones.includes(zone)) zones = [zone, ...zones];
  const tz = h('select', {
    id: 'tz', 'aria-label': 'Time zone',
    onchange: (event) => go(withParams(state, { tz: event.target.value })),
  }, zones.map((name) => h('option', { value: name, selected: name === zone }, name)));
  return h('div', { class: 'period' }, select, custom, tz);
}

export function filterChips(state, go) {
  const active = filters(state);
  if (!active.length) return null;
  return h('ul', { class: 'chips', 'aria-label': 'Filters' }, active.map(([name, value]) => {
    const dimension = name.replace(/!$/, '');
    const text = `${DIMENSION_LABELS[dimension]} ${name.endsWith('!') ? 'is not' : 'is'} ${value || '(none)'}`;
    return h('li', { class: 'chip' }, h('span', {}, text), h('button', {
      type: 'button', class: 'chip-remove', 'aria-label': `Remove filter: ${text}`,
      onclick: () => go(withoutFilter(state, name)),
    }, '×'));
  }));
}

// Rows of (label, value, share of the largest) as buttons (a click filters) or plain rows.
export function barList(rows, { onPick, columns, label }) {
  const top = Math.max(...rows.map((r) => r.weight), 0) || 1;
  const head = h('div', { class: 'bar-head', 'aria-hidden': 'true' },
    h('span', {}, label), columns.map((c) => h('span', { class: 'num' }, c)));
  return h('div', { class: 'bar-list' }, head, h('ul', {}, rows.map((row) => {
    const bar = width(h('span', { class: 'bar', 'aria-hidden': 'true' }), row.weight / top);
    const inner = [bar, h('span', { class: 'bar-label' }, row.label),
      row.cells.map((c) => h('span', { class: 'num' }, c))];
    // The visible text is the accessible name; the title (description) says what it is.
    const title = `${row.label}: ${columns.map((c, i) => `${c.toLowerCase()} ${row.cells[i]}`).join(', ')}`;
    return h('li', {}, onPick
      ? h('button', { type: 'button', class: 'bar-row', title: `Filter by ${title}`, onclick: () => onPick(row) }, inner)
      : h('div', { class: 'bar-row', title }, inner));
  })));
}

// Good / needs improvement / poor shares as one bar, with the shares written out.
export function ratingBar(summary) {
  const parts = [['good', 'Good'], ['needs_improvement', 'Needs improvement'], ['poor', 'Poor']];
  return h('div', { class: 'rating-bar-wrap' },
    h('div', { class: 'rating-bar', role: 'img', 'aria-label': parts.map(([k, t]) => `${t} ${percent(summary[k])}`).join(', ') },
      parts.map(([key]) => width(h('span', { class: `seg ${key}` }), summary[key]))),
    h('ul', { class: 'rating-legend' }, parts.map(([key, text]) => h('li', {},
      h('span', { class: `dot ${key}`, 'aria-hidden': 'true' }), `${text} ${percent(summary[key])}`))));
}

export function vitalValue(name, value) {
  return h('span', { class: `rating ${rating(name, value)}` }, vital(name, value));
}

// A small trend line of counts (issue list), drawn as SVG.
export function sparkline(values, label) {
  const w = 120;
  const height = 28;
  const top = Math.max(...values, 1);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
  return svg('svg', { class: 'spark', viewBox: `0 0 ${w} ${height}`, width: w, height, role: 'img', 'aria-label': label },
    svg('polyline', { points: points.join(' '), fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5 }));
}

export function scrollBox(...children) {
  return h('div', { class: 'scroll', tabindex: '0' }, children);
}

export function state() {
  return current();
}
