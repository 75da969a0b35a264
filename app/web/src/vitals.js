// Web vitals: per metric the p75 in its rating colour and the good / needs improvement /
// poor shares; the chosen metric's p75 trend; its p75 by page, route, device, browser or
// country (a row filters); the worst attribution elements; and what errors cost (bounce
// rate and p75 INP of sessions with and without errors).

import { get } from './api.js';
import { timeChart } from './chart.js';
import { h, replace } from './dom.js';
import { VITALS, count, percent, valueLabel, vital } from './format.js';
import { apiParams, interval, withFilter, withParams } from './state.js';
import { card, empty, fill, ratingBar, scrollBox, tabs, vitalValue } from './widgets.js';

const NAMES = Object.keys(VITALS);
const BY = [['page', 'Pages'], ['route', 'Routes'], ['device', 'Devices'], ['browser', 'Browsers'], ['country', 'Countries']];

export function vitals(go) {
  const root = h('div', { class: 'view' });
  const summary = h('div', { class: 'vitals', id: 'vitals-summary', 'aria-busy': 'true' });
  const trend = card('p75 trend', { id: 'trend', wide: true });
  const chartBox = h('div', { class: 'chart', role: 'img' });
  const byCard = card('By page', { id: 'by' });
  const worst = card('Worst elements', { id: 'worst' });
  const impact = card("Errors' impact", { id: 'impact', wide: true });
  root.append(summary, trend.el, h('div', { class: 'grid' }, byCard.el, worst.el), impact.el);

  function chosenVital(state) {
    const name = (state.get('vital') || 'LCP').toUpperCase();
    return NAMES.includes(name) ? name : 'LCP';
  }

  function drawSummary(state, data) {
    const chosen = chosenVital(state);
    return NAMES.map((name) => {
      const m = data.metrics[name];
      return h('button', {
        type: 'button', class: 'vital', 'aria-pressed': String(name === chosen),
        dataset: { vital: name, value: String(m.p75) },
        onclick: () => go(withParams(state, { vital: name })),
      },
      h('span', { class: 'vital-name' }, name, h('span', { class: 'muted small' }, ` ${VITALS[name].label}`)),
      h('span', { class: 'vital-p75' }, vitalValue(name, m.p75), h('span', { class: 'muted small' }, ' p75')),
      h('span', { class: 'muted small' }, `${count(m.samples)} samples`),
      ratingBar(m));
    });
  }

  function drawWorst(name, data) {
    const targets = data.attribution[name] || [];
    if (!targets.length) return empty('No attribution for this metric in the period.');
    return scrollBox(h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Element'), h('th', { scope: 'col', class: 'num' }, 'p75'),
        h('th', { scope: 'col', class: 'num' }, 'Poor'), h('th', { scope: 'col', class: 'num' }, 'Samples'))),
      h('tbody', {}, targets.map((t) => h('tr', {},
        h('td', {}, h('code', {}, t.target)),
        h('td', { class: 'num' }, vitalValue(name, t.p75)),
        h('td', { class: 'num' }, percent(t.poor)),
        h('td', { class: 'num' }, count(t.samples)))))));
  }

  function drawBy(state, name, by, data) {
    const rows = data.breakdown || [];
    if (!rows.length) return empty('No samples in this period.');
    const withErrors = by === 'page' || by === 'route';
    return scrollBox(h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, BY.find(([k]) => k === by)[1].replace(/s$/, '')),
        h('th', { scope: 'col', class: 'num' }, 'p75'), h('th', { scope: 'col', class: 'num' }, 'Good'),
        h('th', { scope: 'col', class: 'num' }, 'Samples'),
        withErrors ? h('th', { scope: 'col', class: 'num' }, 'Error rate') : null)),
      h('tbody', {}, rows.map((row) => {
        const m = row[name] || { samples: 0, p75: null, good: 0 };
        return h('tr', {},
          h('td', {}, h('button', {
            type: 'button', class: 'link', title: `Filter by ${valueLabel(by, row.value)}`,
            onclick: () => go(withFilter(state, by, row.value)),
          }, valueLabel(by, row.value))),
          h('td', { class: 'num' }, vitalValue(name, m.p75)),
          h('td', { class: 'num' }, percent(m.good)),
          h('td', { class: 'num' }, count(m.samples)),
          withErrors ? h('td', { class: 'num' }, percent(row.error_rate)) : null);
      }))));
  }

  function drawImpact(data) {
    const groups = [['with_errors', 'Sessions with errors'], ['without_errors', 'Sessions without errors']];
    return scrollBox(h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), h('th', { scope: 'col', class: 'num' }, 'Sessions'),
        h('th', { scope: 'col', class: 'num' }, 'Bounce rate'), h('th', { scope: 'col', class: 'num' }, 'p75 INP'))),
      h('tbody', {}, groups.map(([key, label]) => h('tr', {},
        h('th', { scope: 'row' }, label),
        h('td', { class: 'num' }, count(data[key].sessions)),
        h('td', { class: 'num' }, percent(data[key].bounce_rate)),
        h('td', { class: 'num' }, vitalValue('INP', data[key].inp_p75)))))));
  }

  return {
    el: root,
    update(state) {
      const name = chosenVital(state);
      const by = BY.some(([k]) => k === state.get('by')) ? state.get('by') : 'page';
      const params = apiParams(state);
      const totals = get('/vitals', params);
      summary.setAttribute('aria-busy', 'true');
      totals.then((data) => {
        replace(summary, drawSummary(state, data));
        summary.setAttribute('aria-busy', 'false');
      }, () => summary.setAttribute('aria-busy', 'false'));
      fill(worst.body, () => totals, (data) => drawWorst(name, data));
      worst.heading.textContent = `Worst ${name} elements`;

      const step = interval(state);
      const series = apiParams(state);
      series.set('metric', name);
      series.set('interval', step);
      trend.heading.textContent = `${name} p75 per ${step}`;
      chartBox.setAttribute('aria-label', `${name} 75th percentile per ${step}`);
      fill(trend.body, () => get('/vitals/timeseries', series), (data) => {
        const sampled = data.results.some((p) => p[name].samples);
        if (!sampled) return empty('No samples in this period.');
        requestAnimationFrame(() => timeChart(chartBox, {
          labels: data.results.map((p) => p.date),
          series: [{ label: `${name} p75`, values: data.results.map((p) => p[name].p75) }],
          interval: step,
          format: (v) => vital(name, v),
          key: series.toString(),
        }));
        return chartBox;
      });

      const byParams = apiParams(state);
      byParams.set('by', by);
      byParams.set('metric', name);
      byParams.set('limit', '10');
      byCard.heading.textContent = `${name} by ${by}`;
      const head = byCard.el.querySelector('.card-head');
      head.querySelector('.tabs')?.remove();
      head.append(tabs('Break down by', BY, by, (key) => go(withParams(state, { by: key }))));
      fill(byCard.body, () => get('/vitals', byParams), (data) => drawBy(state, name, by, data));
      fill(impact.body, () => get('/vitals/errors-impact', params), drawImpact);
    },
  };
}
