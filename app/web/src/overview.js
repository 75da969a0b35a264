// The overview: top stats with their change, the time series, the breakdown cards
// (a click on a row filters everything), realtime visitors, and the empty state of a
// fresh site. Every number is the API's answer; `data-value` carries it unrounded.

import { boot, get } from './api.js';
import { timeChart } from './chart.js';
import { h, replace } from './dom.js';
import { METRICS, change, count, metricValue, valueLabel } from './format.js';
import {
  apiParams, filters, interval, intervals, periodLabel, withFilter, withParams,
} from './state.js';
import { barList, card, empty, failure, fill, tabs } from './widgets.js';

const CARDS = [
  { id: 'pages', param: 'pages', title: 'Pages', tabs: [['page', 'Pages'], ['entry_page', 'Entry'], ['exit_page', 'Exit'], ['route', 'Routes']] },
  { id: 'sources', param: 'sources', title: 'Sources', tabs: [['source', 'Sources'], ['referrer', 'Referrers'], ['utm_source', 'UTM source'], ['utm_medium', 'UTM medium'], ['utm_campaign', 'UTM campaign']] },
  { id: 'countries', param: 'countries', title: 'Countries', tabs: [['country', 'Countries']] },
  { id: 'devices', param: 'devices', title: 'Devices', tabs: [['device', 'Devices'], ['browser', 'Browsers'], ['os', 'OS']] },
];
const PAGE_DIMENSIONS = new Set(['page', 'route']);
const INTERVAL_LABELS = { minute: 'Minutes', hour: 'Hours', day: 'Days', week: 'Weeks' };

function snippetTag() {
  return `<script defer src="${location.origin}/script.js" data-site="${boot.site}"></script>`;
}

function freshSite() {
  const tag = snippetTag();
  const status = h('span', { class: 'muted', role: 'status' });
  return h('section', { class: 'card wide notice', 'aria-labelledby': 'fresh-title' },
    h('h2', { id: 'fresh-title' }, 'No page views yet'),
    h('p', {}, 'Nothing was recorded in this period or the one before. To start, put this tag in the <head> of every page of your site:'),
    h('pre', { class: 'code' }, h('code', {}, tag)),
    h('p', {}, h('button', {
      type: 'button', class: 'small',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(tag);
          status.textContent = 'Copied.';
        } catch {
          status.textContent = 'Copy failed: select the tag and copy it.';
        }
      },
    }, 'Copy the tag'), ' ', status),
    h('p', { class: 'muted small' }, 'Pages served from localhost need the data-localhost attribute as well. Visits show up here within seconds.'));
}

export function overview(go) {
  const root = h('div', { class: 'view' });
  const statsEl = h('div', { class: 'stats', id: 'stats', 'aria-busy': 'true' });
  const notice = h('div');
  const chartCard = card('Visitors', { id: 'chart', wide: true });
  const chartBox = h('div', { class: 'chart', role: 'img' });
  const chartControls = h('div', { class: 'chart-controls' });
  const cards = CARDS.map((spec) => ({ spec, ...card(spec.title, { id: spec.id }) }));
  root.append(statsEl, notice, chartCard.el, h('div', { class: 'grid' }, cards.map((c) => c.el)));
  let realtimeTimer = null;
  let updates = 0;

  function drawStats(state, data, query) {
    replace(statsEl, METRICS.map((metric) => {
      const value = data[metric.key];
      const chosen = (state.get('metric') || 'visitors') === metric.key;
      return h('button', {
        type: 'button', class: 'stat', 'aria-pressed': String(chosen),
        dataset: { metric: metric.key, value: String(value) },
        title: `Show ${metric.label.toLowerCase()} in the chart`,
        onclick: () => go(withParams(state, { metric: metric.key })),
      },
      h('span', { class: 'stat-label' }, metric.label),
      h('span', { class: 'stat-value' }, metricValue(metric.kind, value)),
      // Holds the line of the change until the previous period has answered.
      h('span', { class: 'delta pending', 'aria-hidden': 'true' }, '\u00a0'));
    }));
    statsEl.dataset.query = query;
    statsEl.setAttribute('aria-busy', 'false');
    performance.mark('beacon:stats');
  }

  function drawChanges(state, data, previous) {
    for (const metric of METRICS) {
      const slot = statsEl.querySelector(`[data-metric="${metric.key}"] .delta.pending`);
      if (!slot) continue;
      const delta = previous && change(metric, data[metric.key], previous[metric.key]);
      if (!delta) {
        slot.remove();
        continue;
      }
      slot.replaceWith(h('span', {
        class: `delta ${delta.direction} ${delta.good === true ? 'good' : delta.good === false ? 'bad' : ''}`,
        title: delta.title,
        dataset: { previous: String(previous[metric.key]) },
      }, h('span', { class: 'sr-only' }, 'change against the previous period: '), delta.text));
    }
    if (!previous) return;
    const nothing = !data.pageviews && !previous.pageviews && !filters(state).length;
    replace(notice, nothing ? freshSite() : null);
  }

  async function loadStats(state) {
    const params = apiParams(state);
    const query = params.toString();
    statsEl.setAttribute('aria-busy', 'true');
    statsEl.classList.add('busy');
    statsEl.dataset.loading = query;
    try {
      // The numbers first, then the previous period's (the same answer as `previous`
      // of one request, asked by its bounds): each is about half the work of both.
      const current = new URLSearchParams(params);
      current.set('compare', 'false');
      const data = await get('/overview', current);
      if (statsEl.dataset.loading !== query) return;
      drawStats(state, data, query);
      const before = new URLSearchParams(current);
      for (const key of ['period', 'from', 'to']) before.delete(key);
      before.set('from', data.previous_period.from);
      before.set('to', data.previous_period.to);
      let previous = null;
      try {
        previous = await get('/overview', before);
      } catch {
        // The numbers stand without their changes.
      }
      if (statsEl.dataset.loading !== query) return;
      drawChanges(state, data, previous);
    } catch (error) {
      if (statsEl.dataset.loading !== query) return;
      replace(statsEl, failure(error));
      statsEl.setAttribute('aria-busy', 'false');
    }
    statsEl.classList.remove('busy');
  }

  function loadChart(state) {
    const metric = METRICS.find((m) => m.key === state.get('metric')) || METRICS[0];
    const step = interval(state);
    chartCard.heading.textContent = `${metric.label} · ${periodLabel(state)}`;
    const compare = state.get('compare') === 'previous';
    replace(chartControls, tabs('Chart interval', intervals(state).map((i) => [i, INTERVAL_LABELS[i]]), step,
      (chosen) => go(withParams(state, { interval: chosen }))),
    h('button', {
      type: 'button', class: 'tab', 'aria-pressed': String(compare),
      onclick: () => go(withParams(state, { compare: compare ? null : 'previous' })),
    }, 'Compare with the previous period'));
    const params = apiParams(state);
    params.set('metric', metric.key);
    params.set('interval', step);
    if (compare) params.set('compare', 'previous');
    const key = params.toString();
    chartBox.setAttribute('aria-label', `${metric.label} per ${step}${compare ? ', this period and the previous one' : ''}`);
    return fill(chartCard.body, () => get('/timeseries', params), (data) => {
      const frag = h('div', {}, chartControls, chartBox);
      requestAnimationFrame(() => {
        timeChart(chartBox, {
          labels: data.results.map((p) => p.date),
          series: [
            { label: metric.label, values: data.results.map((p) => p[metric.key]) },
            ...(data.previous ? [{
              label: 'Previous period',
              values: data.previous.map((p) => p[metric.key]),
              dashed: true,
              color: getComputedStyle(document.documentElement).getPropertyValue('--muted').trim(),
            }] : []),
          ],
          interval: step,
          format: (v) => metricValue(metric.kind, v),
          key,
        });
        performance.mark('beacon:chart');
      });
      return frag;
    });
  }

  function loadCard(state, entry) {
    const { spec, body } = entry;
    const chosen = spec.tabs.some(([k]) => k === state.get(spec.param)) ? state.get(spec.param) : spec.tabs[0][0];
    const actions = spec.tabs.length > 1
      ? tabs(`${spec.title}: show`, spec.tabs, chosen, (key) => go(withParams(state, { [spec.param]: key })))
      : null;
    const head = entry.el.querySelector('.card-head');
    head.querySelector('.tabs')?.remove();
    if (actions) head.append(actions);
    const params = apiParams(state);
    params.set('limit', '10');
    return fill(body, () => get(`/breakdown/${chosen}`, params), (data) => {
      if (!data.results.length) return empty('Nothing in this period.');
      const pages = PAGE_DIMENSIONS.has(chosen);
      const dimLabel = spec.tabs.find(([k]) => k === chosen)[1];
      return barList(data.results.map((row) => ({
        label: valueLabel(chosen, row.value),
        weight: row.visitors,
        cells: pages ? [count(row.visitors), count(row.pageviews)] : [count(row.visitors)],
        value: row.value,
      })), {
        label: dimLabel,
        columns: pages ? ['Visitors', 'Views'] : ['Visitors'],
        onPick: (row) => go(withFilter(state, chosen, row.value)),
      });
    });
  }

  async function realtime() {
    const el = document.getElementById('realtime');
    if (!el) return;
    try {
      const data = await get('/realtime', {}, { fresh: true });
      el.textContent = `${count(data.visitors)} ${data.visitors === 1 ? 'visitor' : 'visitors'} in the last 5 minutes`;
      el.dataset.value = String(data.visitors);
    } catch {
      el.textContent = 'Realtime: not available';
    }
  }

  return {
    el: root,
    realtime: true,
    update(state) {
      // The top stats and the chart first, the cards once those answered: on a busy
      // server (two cores, one ClickHouse) seven queries at once slow down all seven.
      // After a filter click the numbers come first, alone, then the chart.
      const turn = (updates += 1);
      for (const entry of cards) entry.body.classList.add('busy');
      clearInterval(realtimeTimer);
      const critical = turn === 1
        ? Promise.allSettled([loadStats(state), loadChart(state)])
        : loadStats(state).then(() => (turn === updates ? loadChart(state) : null));
      critical.then(() => {
        if (turn !== updates) return;
        for (const entry of cards) loadCard(state, entry);
        realtime();
        realtimeTimer = setInterval(realtime, 30_000);
      });
    },
    leave() {
      clearInterval(realtimeTimer);
    },
  };
}
