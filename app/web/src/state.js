// Every view's state lives in the URL: the path names the view (/sites/S, /sites/S/vitals,
// /sites/S/issues/ID, …, or the same under /share/S), the query string its period, time
// zone, filters and the view's own choices (chart metric, card tabs, issue status …).
// So a reload, the back button and a copied link all show the same thing.

export const DIMENSIONS = [
  'page', 'route', 'entry_page', 'exit_page', 'referrer', 'source',
  'utm_source', 'utm_medium', 'utm_campaign', 'country', 'device', 'browser', 'os',
];
export const DIMENSION_LABELS = {
  page: 'Page', route: 'Route', entry_page: 'Entry page', exit_page: 'Exit page',
  referrer: 'Referrer', source: 'Source', utm_source: 'UTM source', utm_medium: 'UTM medium',
  utm_campaign: 'UTM campaign', country: 'Country', device: 'Device', browser: 'Browser',
  os: 'OS',
};
export const PERIODS = [
  ['today', 'Today'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'], ['month', 'This month'], ['custom', 'Custom range'],
];
export const DEFAULT_PERIOD = '7d';
// Parameters that survive a change of view; the rest belong to one view.
const COMMON = ['period', 'from', 'to', 'tz', 'auth'];

export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function current() {
  const url = new URL(location.href);
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const params = url.searchParams;
  return {
    root: parts[0],
    site: parts[1],
    view: parts[2] || 'overview',
    id: parts[3] || '',
    params,
    get(name, fallback = '') {
      return params.get(name) ?? fallback;
    },
  };
}

export function isFilter(name) {
  return DIMENSIONS.includes(name.replace(/!$/, ''));
}

export function filters(state) {
  const found = [];
  for (const [name, value] of state.params) if (isFilter(name)) found.push([name, value]);
  return found;
}

// The period, zone and filters as the API takes them.
export function apiParams(state, { withFilters = true } = {}) {
  const result = new URLSearchParams();
  const from = state.get('from');
  const to = state.get('to');
  if (from && to) {
    result.set('from', from);
    result.set('to', to);
  } else {
    result.set('period', state.get('period', DEFAULT_PERIOD));
  }
  result.set('tz', state.get('tz') || browserZone());
  if (withFilters) for (const [name, value] of filters(state)) result.append(name, value);
  return result;
}

function base(state) {
  return `/${state.root}/${encodeURIComponent(state.site)}`;
}

// The URL of `view` (and `id`), keeping the common parameters (and the filters unless
// told otherwise), then applying `changes` (null removes a parameter).
export function link(state, view, id, changes = {}, { keepAll = false } = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of state.params) {
    if (keepAll || COMMON.includes(name) || isFilter(name)) params.append(name, value);
  }
  for (const [name, value] of Object.entries(changes)) {
    if (value == null || value === '') params.delete(name);
    else params.set(name, value);
  }
  const path = view === 'overview' ? '' : `/${view}${id ? `/${encodeURIComponent(id)}` : ''}`;
  const query = params.toString();
  return `${base(state)}${path}${query ? `?${query}` : ''}`;
}

// The same view with some parameters changed.
export function withParams(state, changes) {
  const id = state.id;
  return link(state, state.view, id, changes, { keepAll: true });
}

export function withFilter(state, name, value) {
  const params = new URLSearchParams(state.params);
  params.delete(name);
  params.append(name, value);
  params.delete('offset');
  const url = new URL(location.href);
  url.search = params.toString();
  return url.pathname + url.search;
}

export function withoutFilter(state, name) {
  return withParams(state, { [name]: null, offset: null });
}

// Today, last 24 h … (or the custom dates) and the zone, for headings.
export function periodLabel(state) {
  const from = state.get('from');
  const to = state.get('to');
  if (from && to) return `${from} to ${to}`;
  const period = state.get('period', DEFAULT_PERIOD);
  return (PERIODS.find(([key]) => key === period) || [period, period])[1];
}

// Length of the period in days (approximate: for choosing chart buckets).
export function periodDays(state) {
  const from = state.get('from');
  const to = state.get('to');
  if (from && to) return (Date.parse(to) - Date.parse(from)) / 86_400_000 + 1;
  return { today: 1, '24h': 1, '7d': 7, '30d': 30, month: 31 }[state.get('period', DEFAULT_PERIOD)] || 7;
}

// The chart intervals that make sense for the period (the API allows minutes up to 2 days).
export function intervals(state) {
  const days = periodDays(state);
  const all = [];
  if (days <= 2) all.push('minute');
  if (days <= 31) all.push('hour');
  if (days >= 2) all.push('day');
  if (days >= 14) all.push('week');
  return all;
}

export function defaultInterval(state) {
  const days = periodDays(state);
  if (days <= 2) return 'hour';
  if (days <= 120) return 'day';
  return 'week';
}

export function interval(state) {
  const chosen = state.get('interval');
  return intervals(state).includes(chosen) ? chosen : defaultInterval(state);
}
