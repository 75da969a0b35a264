// Issues: the list (status tabs, search, sort, a sparkline per issue) and one issue
// (stack with in-app frames and de-minified locations, what the user did before, tags,
// hourly histogram, history) with the triage actions, which go through the triage API's
// PATCH. A shared link shows the same without actions.

import { boot, get } from './api.js';
import { timeChart } from './chart.js';
import { h, replace } from './dom.js';
import { ago, count, fullCount, instant, wallClock } from './format.js';
import { apiParams, browserZone, current, link, periodDays, withParams } from './state.js';
import {
  barList, card, empty, fill, patchAndReload, scrollBox, sparkline, tabs,
} from './widgets.js';

const STATUS_TABS = [
  ['unresolved,regressed', 'Open'], ['regressed', 'Regressed'], ['resolved', 'Resolved'],
  ['ignored', 'Ignored'], ['all', 'All'],
];
const SORTS = [
  ['last_seen', 'Last seen'], ['first_seen', 'First seen'], ['events', 'Events'], ['users', 'Users'],
];
const PAGE = 25;

function statusBadge(issue) {
  return h('span', { class: `badge ${issue.status}` }, issue.status);
}

export function issueList(go) {
  const root = h('div', { class: 'view' });
  const controls = h('div', { class: 'issue-controls' });
  const list = card('Issues', { id: 'issues', wide: true });
  root.append(controls, list.el);

  function drawControls(state) {
    const status = state.get('status', STATUS_TABS[0][0]);
    const search = h('form', {
      class: 'search', role: 'search',
      onsubmit: (event) => {
        event.preventDefault();
        go(withParams(state, { q: new FormData(event.target).get('q').trim(), offset: null }));
      },
    },
    h('label', { for: 'issue-q', class: 'sr-only' }, 'Search issues'),
    h('input', { id: 'issue-q', name: 'q', type: 'search', placeholder: 'Search title, message, culprit', value: state.get('q'), maxlength: '200' }),
    h('button', { type: 'submit', class: 'small' }, 'Search'));
    const sort = h('label', { class: 'sort' }, 'Sort by ', h('select', {
      id: 'issue-sort',
      onchange: (event) => go(withParams(state, { sort: event.target.value, offset: null })),
    }, SORTS.map(([key, text]) => h('option', { value: key, selected: key === state.get('sort', 'last_seen') }, text))));
    replace(controls,
      tabs('Status', STATUS_TABS, status, (key) => go(withParams(state, { status: key, offset: null }))),
      search, sort);
  }

  function drawList(state, data) {
    if (!data.issues.length) {
      return empty(state.get('q') ? 'No issue matches this search in the period.' : 'No issues with this status in the period.');
    }
    const zone = state.get('tz') || browserZone();
    const offset = Number(state.get('offset', '0')) || 0;
    const rows = data.issues.map((issue) => h('tr', { dataset: { issue: issue.issue_id } },
      h('td', { class: 'issue-cell' },
        h('a', { href: link(state, 'issues', issue.issue_id), 'data-nav': '', class: 'issue-title' }, issue.title),
        h('div', { class: 'muted small' }, statusBadge(issue), ' ', issue.culprit || issue.error_kind,
          issue.assignee ? ` · assigned to ${issue.assignee}` : '')),
      h('td', { class: 'num' }, fullCount(issue.events)),
      h('td', { class: 'num' }, fullCount(issue.users)),
      h('td', { class: 'num', title: instant(issue.last_seen, zone) }, ago(issue.last_seen)),
      h('td', { class: 'num', title: instant(issue.first_seen, zone) }, ago(issue.first_seen)),
      h('td', { class: 'spark-cell' }, sparkline(issue.spark || [], `Events per ${data.spark_interval}: ${(issue.spark || []).join(', ')}`))));
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of issues' },
      offset > 0 ? h('a', { href: withParams(state, { offset: offset > PAGE ? offset - PAGE : null }), 'data-nav': '' }, '← Previous') : null,
      h('span', { class: 'muted' }, `${offset + 1}–${offset + data.issues.length} of ${data.total}`),
      offset + PAGE < data.total ? h('a', { href: withParams(state, { offset: offset + PAGE }), 'data-nav': '' }, 'Next →') : null);
    return h('div', {}, scrollBox(h('table', { class: 'issues' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Issue'), h('th', { scope: 'col', class: 'num' }, 'Events'),
        h('th', { scope: 'col', class: 'num' }, 'Users'), h('th', { scope: 'col', class: 'num' }, 'Last seen'),
        h('th', { scope: 'col', class: 'num' }, 'First seen'), h('th', { scope: 'col' }, 'Trend'))),
      h('tbody', {}, rows))), pager);
  }

  return {
    el: root,
    update(state) {
      drawControls(state);
      const params = apiParams(state, { withFilters: false });
      params.set('status', state.get('status', STATUS_TABS[0][0]));
      params.set('sort', state.get('sort', 'last_seen'));
      params.set('limit', String(PAGE));
      if (state.get('offset')) params.set('offset', state.get('offset'));
      if (state.get('q')) params.set('q', state.get('q'));
      params.set('spark', periodDays(state) <= 2 ? 'hour' : 'day');
      fill(list.body, () => get('/issues', params), (data) => drawList(state, data));
    },
  };
}

function place(file, line, col) {
  if (!file && line == null) return '(native)';
  return [file || '?', line, col].filter((part) => part != null).join(':');
}

function frameView(frame) {
  const where = frame.mapped
    ? place(frame.original_file, frame.original_line, frame.original_col)
    : place(frame.abs_path || frame.module, frame.line, frame.col);
  const fn = (frame.mapped && frame.original_function) || frame.function || '<anonymous>';
  return h('li', { class: `frame${frame.in_app ? ' in-app' : ''}`, dataset: { mapped: String(Boolean(frame.mapped)) } },
    h('div', { class: 'frame-head' },
      h('code', { class: 'frame-fn' }, fn), ' ', h('span', { class: 'frame-where' }, where),
      frame.in_app ? h('span', { class: 'tag in-app-tag' }, 'in app') : null,
      frame.mapped ? h('span', { class: 'tag mapped-tag' }, 'source map') : null),
    frame.context_line ? h('pre', { class: 'code context' }, h('code', {}, frame.context_line)) : null,
    frame.mapped ? h('div', { class: 'muted small' }, `minified: ${place(frame.abs_path, frame.line, frame.col)}`) : null);
}

function crumbView(crumb, zone) {
  const what = {
    pageview: () => [h('strong', {}, 'Page view '), crumb.path || '', crumb.title ? ` — ${crumb.title}` : ''],
    click: () => [h('strong', {}, 'Click '), h('code', {}, crumb.target || ''), crumb.text ? ` “${crumb.text}”` : ''],
    submit: () => [h('strong', {}, 'Form submit '), h('code', {}, crumb.target || '')],
  }[crumb.type] || (() => [h('strong', {}, crumb.type), ' ', crumb.path || '']);
  return h('li', {}, h('time', { class: 'muted small' }, instant(crumb.ts, zone, { seconds: true })), ' ', what());
}

// `status` is the view's own line, moved into each redraw: what an action did stays
// shown after the reload that follows it.
function actions(issue, reload, status) {
  if (boot.mode === 'share') return null;
  const act = (body, done) => patchAndReload(
    status, `/issues/${encodeURIComponent(issue.issue_id)}`, body, done, reload);
  const button = (text, body, done) => h('button', { type: 'button', class: 'small', onclick: () => act(body, done) }, text);
  const open = issue.status === 'unresolved' || issue.status === 'regressed';
  return h('section', { class: 'actions', 'aria-label': 'Triage' },
    h('div', { class: 'action-row' },
      open ? button('Resolve', { action: 'resolve' }, 'Resolved.') : null,
      open ? button('Resolve in next release', { action: 'resolve_next_release' }, 'Resolved in the next release.') : null,
      open ? button('Ignore', { action: 'ignore' }, 'Ignored.') : null,
      !open ? button('Reopen', { action: 'reopen' }, 'Reopened.') : null),
    h('form', {
      class: 'action-row',
      onsubmit: (event) => {
        event.preventDefault();
        act({ action: 'assign', assignee: new FormData(event.target).get('assignee').trim() }, 'Assigned.');
      },
    }, h('label', { for: 'assignee' }, 'Assign to'),
    h('input', { id: 'assignee', name: 'assignee', maxlength: '200', value: issue.assignee || '' }),
    h('button', { type: 'submit', class: 'small' }, 'Assign')),
    h('form', {
      class: 'action-row',
      onsubmit: (event) => {
        event.preventDefault();
        const text = new FormData(event.target).get('text').trim();
        if (text) act({ action: 'comment', text }, 'Comment added.');
      },
    }, h('label', { for: 'comment' }, 'Comment'),
    h('textarea', { id: 'comment', name: 'text', rows: '2', maxlength: '4000' }),
    h('button', { type: 'submit', class: 'small' }, 'Comment')),
    status);
}

export function issueDetail(go) {
  const root = h('div', { class: 'view' });
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading…'));
  const status = h('p', { class: 'muted small', role: 'status' });
  root.append(body);

  function draw(state, issue, reload) {
    const zone = state.get('tz') || browserZone();
    const histogram = card('Events per hour', { id: 'histogram', wide: true });
    const chartBox = h('div', { class: 'chart', role: 'img', 'aria-label': `Events of this issue per hour (${zone})` });
    histogram.body.replaceChildren(issue.histogram.length ? chartBox : empty('No events in this period.'));
    histogram.body.setAttribute('aria-busy', 'false');
    const stack = card('Stack trace', { id: 'stack', wide: true });
    replace(stack.body, issue.stack.length
      ? h('ol', { class: 'frames' }, issue.stack.map(frameView))
      : empty('This error came without a stack.'));
    stack.body.setAttribute('aria-busy', 'false');
    const recent = issue.recent_events[0];
    const crumbs = card('Before the error', { id: 'breadcrumbs' });
    replace(crumbs.body, recent && recent.breadcrumbs.length
      ? h('ol', { class: 'crumbs' }, recent.breadcrumbs.map((c) => crumbView(c, zone)),
        h('li', { class: 'crumb-error' }, h('time', { class: 'muted small' }, instant(recent.ts, zone, { seconds: true })), ' ', h('strong', {}, 'Error '), recent.message))
      : empty('No page views or interactions recorded before it.'));
    crumbs.body.setAttribute('aria-busy', 'false');
    const tags = card('Where', { id: 'tags' });
    const SHOWN = 8;
    const tagList = (label, rows) => (rows.length ? h('div', { class: 'tag-group' }, barList(rows.slice(0, SHOWN).map((r) => ({
      label: r.value || '(none)', weight: r.events, cells: [fullCount(r.events)],
    })), { label, columns: ['Events'] }), rows.length > SHOWN
      ? h('p', { class: 'muted small more' }, `and ${rows.length - SHOWN} more ${label.toLowerCase()} values`) : null) : null);
    replace(tags.body, tagList('Browser', issue.browsers), tagList('OS', issue.os),
      tagList('Release', issue.releases), tagList('Page', issue.pages));
    tags.body.setAttribute('aria-busy', 'false');
    const events = card('Recent events', { id: 'recent', wide: true });
    replace(events.body, issue.recent_events.length ? scrollBox(h('table', { class: 'wide' },
      h('thead', {}, h('tr', {}, ['Time', 'Page', 'Browser', 'OS', 'Release', 'Session'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, issue.recent_events.map((e) => h('tr', {},
        h('td', {}, instant(e.ts, zone, { seconds: true })), h('td', {}, e.url || e.path),
        h('td', {}, `${e.browser} ${e.browser_version || ''}`), h('td', {}, e.os), h('td', {}, e.release || '–'),
        h('td', {}, h('a', { href: link(state, 'sessions', e.sid), 'data-nav': '' }, 'Timeline'))))))) : empty('None in this period.'));
    events.body.setAttribute('aria-busy', 'false');
    const history = card('History', { id: 'history', wide: true });
    replace(history.body, issue.history.length
      ? h('ol', { class: 'history' }, issue.history.map((entry) => h('li', {},
        h('time', { class: 'muted small' }, instant(entry.at, zone)), ' ', h('strong', {}, entry.action.replace(/_/g, ' ')),
        entry.by ? ` by ${entry.by}` : '', entry.assignee ? ` → ${entry.assignee}` : '',
        entry.text ? h('blockquote', {}, entry.text) : null)))
      : empty('No triage yet.'));
    history.body.setAttribute('aria-busy', 'false');

    const header = h('header', { class: 'issue-head' },
      h('p', {}, h('a', { href: link(state, 'issues', ''), 'data-nav': '' }, '← All issues')),
      h('h1', { class: 'issue-title' }, issue.title),
      h('p', { class: 'issue-message' }, issue.message),
      h('p', { class: 'muted' }, statusBadge(issue), ' ', h('code', {}, issue.culprit || issue.error_kind),
        issue.assignee ? ` · assigned to ${issue.assignee}` : '',
        issue.regressed ? ` · regressed in ${issue.regressed_release || 'a later release'}` : ''),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Events'), h('dd', { dataset: { value: String(issue.events) } }, fullCount(issue.events))),
        h('div', {}, h('dt', {}, 'Users'), h('dd', {}, fullCount(issue.users))),
        h('div', {}, h('dt', {}, 'Sessions'), h('dd', {}, fullCount(issue.sessions))),
        h('div', {}, h('dt', {}, 'First seen'), h('dd', { title: instant(issue.first_seen, zone) }, ago(issue.first_seen))),
        h('div', {}, h('dt', {}, 'Last seen'), h('dd', { title: instant(issue.last_seen, zone) }, ago(issue.last_seen))),
        h('div', {}, h('dt', {}, 'Releases'), h('dd', {}, issue.first_release ? `${issue.first_release} – ${issue.last_release}` : '–'))),
      actions(issue, reload, status));
    const view = h('div', { class: 'issue', dataset: { status: issue.status } }, header,
      histogram.el, stack.el, h('div', { class: 'grid' }, crumbs.el, tags.el), events.el, history.el);
    if (issue.histogram.length) {
      requestAnimationFrame(() => timeChart(chartBox, {
        labels: issue.histogram.map((b) => wallClock(b.hour, zone)),
        series: [{ label: 'Events', values: issue.histogram.map((b) => b.events) }],
        interval: 'hour', format: (v) => count(v), bars: true, height: 160, key: issue.issue_id,
        range: [wallClock(issue.from, zone), wallClock(issue.to, zone)],
      }));
    }
    return view;
  }

  return {
    el: root,
    update(state) {
      const params = apiParams(state, { withFilters: false });
      const reload = () => this.update(current());
      fill(body, () => get(`/issues/${encodeURIComponent(state.id)}`, params), (issue) => {
        document.title = `${issue.title} · Beacon`;
        return draw(state, issue, reload);
      });
    },
  };
}
