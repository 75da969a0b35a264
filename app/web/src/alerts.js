// Alerts: the site's rules with the state each is in now, and the alerts they raised,
// newest first, each with its changes of state (and the value seen) and its notifications.
// A pending or firing alert can be acknowledged (with a note) or resolved, a rule turned
// off or on — all through the alerts API. Rules are written through that API (README:
// Alerts); the page says how. Shared links have no such view: rules name their channels'
// targets.

import { boot, get } from './api.js';
import { h, replace } from './dom.js';
import { ago, instant } from './format.js';
import { browserZone, current, withParams } from './state.js';
import { card, empty, fill, patchAndReload, scrollBox, tabs } from './widgets.js';

const ALERT_TABS = [['active', 'Active'], ['all', 'All']];
const OPS = { gt: '>', gte: '≥', lt: '<', lte: '≤' };

function badge(status) {
  return h('span', { class: `badge alert-${status}` }, status);
}

function value(number) {
  if (number == null) return '–';
  if (Number.isInteger(number)) return number.toLocaleString('en-US');
  return Math.abs(number) < 1 ? number.toFixed(4).replace(/0+$/, '') : number.toFixed(1);
}

function filtersText(filters) {
  return Object.entries(filters || {})
    .map(([name, v]) => `${name}=${Array.isArray(v) ? v.join(',') : v}`).join(' ');
}

// "p75 LCP on route=/checkout over 5m > 4000, for 2m" — the rule as a sentence.
function condition(rule) {
  const metric = rule.vital ? `${rule.metric} ${rule.vital}` : rule.metric;
  const where = filtersText(rule.filters);
  const test = rule.anomaly
    ? `anomaly (z ${rule.anomaly.z}, ${rule.anomaly.direction}, ${rule.anomaly.weeks} weeks)`
    : `${OPS[rule.op] || rule.op} ${value(rule.threshold)}`;
  const hold = rule.for && rule.for !== '0s' ? `, for ${rule.for}` : '';
  return `${metric}${where ? ` where ${where}` : ''} over ${rule.window} ${test}${hold}`;
}

function status() {
  return h('p', { class: 'muted small action-note', role: 'status' });
}

function rulesTable(state, rules, note, reload) {
  if (!rules.length) {
    const site = encodeURIComponent(boot.site);
    const example = `curl -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  ${location.origin}/api/v1/sites/${site}/alerts/rules \\
  -d '{"name": "Error rate", "metric": "error_rate", "window": "5m", "op": "gt", "threshold": 0.05,
       "for": "5m", "channels": [{"type": "webhook", "url": "https://hooks.example.com/beacon"}]}'`;
    return h('div', { class: 'empty' },
      h('p', {}, 'No alert rules yet. Rules are made through the alerts API with a site token, for example:'),
      h('pre', { class: 'code snippet' }, h('code', {}, example)));
  }
  const zone = state.get('tz') || browserZone();
  const rows = rules.map((rule) => h('tr', { dataset: { rule: rule.rule_id, state: rule.state.status } },
    h('td', {}, h('strong', {}, rule.name), h('div', { class: 'muted small' }, condition(rule))),
    h('td', {}, h('span', { class: `badge severity-${rule.severity}` }, rule.severity)),
    h('td', {}, rule.enabled ? badge(rule.state.status) : h('span', { class: 'badge' }, 'off'),
      rule.state.since ? h('div', { class: 'muted small', title: instant(rule.state.since, zone) }, `since ${ago(rule.state.since)}`) : null),
    h('td', { class: 'num' }, value(rule.state.value)),
    h('td', {}, (rule.channels || []).map((c) => c.type).join(', ') || '–'),
    h('td', {}, h('button', {
      type: 'button', class: 'small',
      'aria-label': `${rule.enabled ? 'Turn off' : 'Turn on'} ${rule.name}`,
      onclick: () => patchAndReload(note, `/alerts/rules/${encodeURIComponent(rule.rule_id)}`, { enabled: !rule.enabled },
        rule.enabled ? `“${rule.name}” turned off.` : `“${rule.name}” turned on.`, reload),
    }, rule.enabled ? 'Turn off' : 'Turn on'))));
  return h('div', {}, scrollBox(h('table', { class: 'wide rules' },
    h('thead', {}, h('tr', {}, ['Rule', 'Severity', 'State', 'Value', 'Channels', '']
      .map((t, i) => h('th', { scope: 'col', class: i === 3 ? 'num' : undefined }, t === '' ? h('span', { class: 'sr-only' }, 'Actions') : t)))),
    h('tbody', {}, rows))));
}

function historyList(alert, zone) {
  return h('ol', { class: 'history' }, alert.history.map((entry) => h('li', {},
    h('time', { class: 'muted small' }, instant(entry.at, zone, { seconds: true })), ' ',
    entry.kind === 'transition'
      ? [h('strong', {}, `${entry.from || 'ok'} → ${entry.to}`), ` at ${value(entry.value)}`,
        entry.notified ? ' · notified' : '', entry.reason ? ` · ${entry.reason}` : '']
      : [h('strong', {}, entry.kind), entry.by ? ` by ${entry.by}` : ''],
    entry.note ? h('blockquote', {}, entry.note) : null)));
}

function deliveryList(alert, zone) {
  if (!alert.deliveries.length) return null;
  return scrollBox(h('table', { class: 'wide deliveries' },
    h('caption', { class: 'sr-only' }, 'Notifications'),
    h('thead', {}, h('tr', {}, ['Notification', 'Channel', 'Status', 'Attempts', 'Last error', 'Updated']
      .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, alert.deliveries.map((d) => h('tr', { dataset: { delivery: d.status } },
      h('td', {}, d.kind), h('td', {}, `${d.channel} ${d.target}`), h('td', {}, d.status),
      h('td', { class: 'num' }, String(d.attempts)), h('td', {}, d.last_error || '–'),
      h('td', {}, instant(d.updated_at, zone)))))));
}

function alertActions(alert, note, reload) {
  if (alert.state !== 'pending' && alert.state !== 'firing') return null;
  const path = `/alerts/${encodeURIComponent(alert.alert_id)}`;
  const field = `ack-${alert.alert_id}`;
  return h('form', {
    class: 'action-row',
    onsubmit: (event) => {
      event.preventDefault();
      const text = new FormData(event.target).get('note').trim();
      patchAndReload(note, path, { action: 'acknowledge', note: text }, 'Acknowledged.', reload);
    },
  },
  h('label', { for: field }, 'Note'),
  h('input', { id: field, name: 'note', maxlength: '2000' }),
  h('button', { type: 'submit', class: 'small' }, 'Acknowledge'),
  h('button', {
    type: 'button', class: 'small',
    onclick: () => patchAndReload(note, path, { action: 'resolve' }, 'Resolved.', reload),
  }, 'Resolve'));
}

function alertItem(alert, zone, note, reload) {
  const ack = alert.acknowledged;
  return h('li', { class: 'alert-item', dataset: { alert: alert.alert_id, state: alert.state } },
    h('div', { class: 'alert-head' },
      badge(alert.state), h('span', { class: `badge severity-${alert.severity}` }, alert.severity), ' ',
      h('strong', {}, alert.rule), ' ',
      h('span', { class: 'muted' }, `${alert.metric} ${value(alert.value)}`,
        alert.threshold != null ? ` (threshold ${value(alert.threshold)})` : '')),
    h('p', { class: 'muted small' },
      `opened ${instant(alert.opened_at, zone)}`,
      alert.resolved_at ? ` · resolved ${instant(alert.resolved_at, zone)}` : '',
      ack ? ` · acknowledged${ack.by ? ` by ${ack.by}` : ''} ${ago(ack.at)}` : ''),
    alertActions(alert, note, reload),
    h('details', {}, h('summary', {}, 'History and notifications'),
      historyList(alert, zone), deliveryList(alert, zone)));
}

export function alertsView(go) {
  const root = h('div', { class: 'view' });
  const rules = card('Rules', { id: 'rules', wide: true });
  const controls = h('div');
  const alerts = card('Alerts', { id: 'alerts', wide: true, actions: controls });
  // What the last action did (or why it failed): outside the cards, which are redrawn.
  const note = status();
  root.append(note, rules.el, alerts.el);

  return {
    el: root,
    update(state) {
      const reload = () => this.update(current());
      const shown = state.get('state', 'active');
      replace(controls, tabs('Alerts shown', ALERT_TABS, shown, (key) => go(withParams(state, { state: key === 'active' ? null : key }))));
      const zone = state.get('tz') || browserZone();
      fill(rules.body, () => get('/alerts/rules', {}, { fresh: true }), (data) => rulesTable(state, data.rules, note, reload));
      const params = { limit: '100' };
      if (shown !== 'all') params.state = shown;
      fill(alerts.body, () => get('/alerts', params, { fresh: true }), (data) => (data.alerts.length
        ? h('ol', { class: 'alert-list' }, data.alerts.map((a) => alertItem(a, zone, note, reload)))
        : empty(shown === 'active' ? 'No alert is pending or firing.' : 'No alert has been raised yet.')));
    },
  };
}
