// Sessions: the period's sessions (newest first, filtered like everything else) and one
// session's timeline — page views, vitals, interactions and errors in order, each error
// linking to its issue.

import { get } from './api.js';
import { h } from './dom.js';
import { count, duration, instant, valueLabel, vital } from './format.js';
import { apiParams, browserZone, link, withParams } from './state.js';
import { card, empty, fill, scrollBox, vitalValue } from './widgets.js';

const PAGE = 50;

export function sessionList() {
  const root = h('div', { class: 'view' });
  const list = card('Sessions', { id: 'sessions', wide: true });
  root.append(list.el);

  function draw(state, data) {
    if (!data.results.length) return empty('No sessions in this period.');
    const zone = state.get('tz') || browserZone();
    const offset = Number(state.get('offset', '0')) || 0;
    const rows = data.results.map((s) => h('tr', {},
      h('td', {}, h('a', { href: link(state, 'sessions', s.sid), 'data-nav': '' }, instant(s.start, zone))),
      h('td', { class: 'num' }, duration(s.duration_ms)),
      h('td', { class: 'num' }, count(s.pageviews)),
      h('td', {}, s.entry_page, s.exit_page !== s.entry_page ? ` → ${s.exit_page}` : ''),
      h('td', {}, valueLabel('source', s.source), s.referrer ? ` (${s.referrer})` : ''),
      h('td', {}, [s.device, s.browser, s.os].filter(Boolean).join(' · ')),
      h('td', {}, valueLabel('country', s.country)),
      h('td', { class: 'num' }, s.errors ? h('span', { class: 'badge unresolved' }, String(s.errors)) : '0'),
      h('td', {}, s.bounced ? 'yes' : 'no')));
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of sessions' },
      offset > 0 ? h('a', { href: withParams(state, { offset: offset > PAGE ? offset - PAGE : null }), 'data-nav': '' }, '← Newer') : null,
      h('span', { class: 'muted' }, `${offset + 1}–${offset + data.results.length}`),
      data.results.length === PAGE ? h('a', { href: withParams(state, { offset: offset + PAGE }), 'data-nav': '' }, 'Older →') : null);
    return h('div', {}, scrollBox(h('table', { class: 'wide' },
      h('thead', {}, h('tr', {}, ['Started', 'Duration', 'Pages', 'Entry → exit', 'Source', 'Device', 'Country', 'Errors', 'Bounced']
        .map((t, i) => h('th', { scope: 'col', class: [1, 2, 7].includes(i) ? 'num' : undefined }, t)))),
      h('tbody', {}, rows))), pager);
  }

  return {
    el: root,
    update(state) {
      const params = apiParams(state);
      params.set('limit', String(PAGE));
      if (state.get('offset')) params.set('offset', state.get('offset'));
      fill(list.body, () => get('/sessions', params), (data) => draw(state, data));
    },
  };
}

function describe(event, state) {
  switch (event.type) {
    case 'pageview':
      return [h('strong', {}, event.path || event.url), event.title ? ` — ${event.title}` : '',
        event.referrer_source && event.referrer_source !== 'internal' ? h('span', { class: 'muted' }, ` from ${event.referrer || event.referrer_source}`) : ''];
    case 'vital':
      return [`${event.name} `, event.name in { LCP: 1, INP: 1, CLS: 1, FCP: 1, TTFB: 1 } ? vitalValue(event.name, event.value) : vital(event.name, event.value),
        event.target ? [' on ', h('code', {}, event.target)] : ''];
    case 'click':
      return [event.rage ? h('strong', { class: 'bad' }, 'Rage click ') : 'Click ', h('code', {}, event.target || ''), event.text ? ` “${event.text}”` : ''];
    case 'submit':
      return ['Form submit ', h('code', {}, event.target || '')];
    case 'scroll':
      return [`Scrolled to ${event.scroll_depth ?? 0}%`];
    case 'engagement':
      return [`Engaged ${duration(event.engaged_ms || 0)}`, event.scroll_depth ? `, scrolled ${event.scroll_depth}%` : ''];
    case 'error':
      return [h('strong', { class: 'bad' }, `${event.error_type || event.error_kind || 'Error'}: `), event.message || '',
        event.fingerprint ? [' ', h('a', { href: link(state, 'issues', event.fingerprint), 'data-nav': '' }, 'issue')] : ''];
    case 'custom':
      return [h('strong', {}, event.name || 'event'), event.props ? h('code', { class: 'muted' }, ` ${JSON.stringify(event.props)}`) : ''];
    case 'timing':
      return [`Loaded in ${duration(event.load)}`, event.tbt ? `, blocking time ${duration(event.tbt)}` : ''];
    default:
      return [event.type];
  }
}

export function sessionTimeline() {
  const root = h('div', { class: 'view' });
  const timeline = card('Session', { id: 'timeline', wide: true });
  root.append(timeline.el);

  function draw(state, data) {
    const zone = state.get('tz') || browserZone();
    timeline.heading.textContent = `Session ${data.sid}`;
    if (!data.events.length) return empty('No events.');
    return h('div', {},
      h('p', {}, h('a', { href: link(state, 'sessions', ''), 'data-nav': '' }, '← All sessions')),
      h('ol', { class: 'timeline' }, data.events.map((event) => h('li', { dataset: { type: event.type } },
        h('time', { class: 'muted small' }, instant(event.ts, zone, { seconds: true })),
        h('span', { class: 'type' }, event.type),
        h('span', { class: 'what' }, describe(event, state))))));
  }

  return {
    el: root,
    update(state) {
      const params = apiParams(state, { withFilters: false });
      fill(timeline.body, () => get(`/sessions/${encodeURIComponent(state.id)}`, params), (data) => draw(state, data));
    },
  };
}
