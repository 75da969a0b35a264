// The dashboard's entry: the header (site switcher, views, logout), the toolbar (period,
// zone, filters, realtime) and the router. The URL is the state (state.js): links inside
// the page change it with history.pushState and the current view updates itself; the
// back button restores the previous URL and so the previous view.

import { alertsView } from './alerts.js';
import { boot } from './api.js';
import { h, replace } from './dom.js';
import { issueDetail, issueList } from './issues.js';
import { overview } from './overview.js';
import { sessionList, sessionTimeline } from './sessions.js';
import { browserZone, current, link, periodLabel, withParams } from './state.js';
import { vitals } from './vitals.js';
import { filterChips, periodControls } from './widgets.js';

const VIEWS = {
  overview: { title: 'Overview', make: overview, filters: true },
  vitals: { title: 'Web vitals', make: vitals, filters: true },
  issues: { title: 'Issues', make: issueList, filters: false },
  'issues/id': { title: 'Issue', make: issueDetail, filters: false },
  sessions: { title: 'Sessions', make: sessionList, filters: true },
  'sessions/id': { title: 'Session', make: sessionTimeline, filters: false },
  // A shared link has no alerts view: rules name their channels' targets.
  ...(boot.mode === 'share' ? {} : { alerts: { title: 'Alerts', make: alertsView, filters: false, period: false } }),
};
const NAV = [['overview', 'Overview'], ['vitals', 'Web vitals'], ['issues', 'Issues'], ['sessions', 'Sessions'],
  ['alerts', 'Alerts']].filter(([key]) => VIEWS[key]);

const main = document.getElementById('main');
const top = document.getElementById('top');
let active = null;

function go(url, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

// A site by its domain, with its key when two sites share a domain.
function siteName(site) {
  const twins = boot.sites.filter((s) => s.domain === site.domain).length > 1;
  return site.domain && !twins ? site.domain : `${site.domain || 'site'} · ${site.site}`;
}

function header(state) {
  const sites = boot.sites.length > 1 || boot.mode === 'session'
    ? h('label', { class: 'site-switch' }, h('span', { class: 'sr-only' }, 'Site'), h('select', {
      'aria-label': 'Site',
      onchange: (event) => {
        location.href = `/sites/${encodeURIComponent(event.target.value)}`;
      },
    }, boot.sites.map((s) => h('option', { value: s.site, selected: s.site === boot.site }, siteName(s)))))
    : h('span', { class: 'site-name' }, siteName(boot.sites[0] || { site: boot.site, domain: '' }));
  const account = boot.mode === 'share'
    ? h('span', { class: 'badge shared', title: 'A shared link: read-only, no triage' }, 'Shared view')
    : h('div', { class: 'account' },
      h('a', { href: `/login?site=`, class: 'small' }, 'Add a site'),
      h('form', { method: 'post', action: '/logout' },
        h('input', { type: 'hidden', name: 'csrf', value: boot.csrf }),
        h('button', { type: 'submit', class: 'small ghost' }, 'Log out')));
  const viewKey = state.view;
  return [
    h('div', { class: 'brand-row' },
      h('a', { class: 'brand', href: link(state, 'overview', ''), 'data-nav': '' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Beacon'),
      sites, account),
    h('nav', { class: 'views', 'aria-label': 'Views' }, NAV.map(([key, text]) => h('a', {
      href: link(state, key, ''), 'data-nav': '', 'aria-current': viewKey === key ? 'page' : undefined,
    }, text))),
  ];
}

function toolbar(state, spec) {
  const realtime = state.view === 'overview'
    ? h('span', { class: 'realtime', id: 'realtime', role: 'status' }, '')
    : null;
  return h('div', { class: 'toolbar' },
    spec.period === false ? null : h('div', { class: 'toolbar-row' }, periodControls(state, go), realtime),
    spec.filters ? filterChips(state, go) : null);
}

function render() {
  const state = current();
  // A first visit without a zone: write the browser's zone into the URL, so that a
  // copied link shows the same numbers elsewhere.
  if (!state.get('tz')) {
    history.replaceState(null, '', withParams(state, { tz: browserZone() }));
    return render();
  }
  const key = state.id ? `${state.view}/id` : state.view;
  const spec = VIEWS[key] || VIEWS.overview;
  replace(top, header(state));
  const instanceKey = `${key}:${state.id}`;
  if (!active || active.key !== instanceKey) {
    active?.view.leave?.();
    active = { key: instanceKey, view: spec.make(go), toolbar: h('div') };
    replace(main, active.toolbar, active.view.el);
  }
  replace(active.toolbar, toolbar(state, spec));
  document.title = `${spec.title} · ${periodLabel(state)} · Beacon`;
  active.view.update(state);
}

document.addEventListener('click', (event) => {
  const anchor = event.target.closest('a[data-nav]');
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  const viewChanges = new URL(anchor.href).pathname !== location.pathname;
  go(anchor.getAttribute('href'));
  if (viewChanges) main.focus({ preventScroll: false });
});
window.addEventListener('popstate', render);
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  active = null;
  render();
});
render();
