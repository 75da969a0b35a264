// Charts with uPlot (from npm, bundled): a time series of lines, and bars. Bucket labels
// come from the API as wall-clock times of the view's zone ("2026-12-01T02:00:00"); they
// are placed as if UTC and drawn in UTC, so the axis shows exactly those wall times.
// Colours come from the page's CSS variables (light or dark).

import uPlot from 'uplot';
import { bucket } from './format.js';

const charts = new WeakMap();

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function stamp(label) {
  return Date.parse(`${label}Z`) / 1000;
}

const HOUR = 3600;
const DAY = 86_400;
// Tick steps (seconds) per bucket size: never finer than one bucket.
const STEPS = {
  minute: [60, 300, 600, 900, 1800, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY],
  hour: [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY],
  day: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY],
  week: [7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY],
};
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// Axis labels: the wall time of a bucket ("14:00"), or its day ("Nov 26") at midnight.
function tick(ts, interval) {
  const date = new Date(ts * 1000);
  const day = `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()}`;
  if (interval === 'day' || interval === 'week') return day;
  const hh = String(date.getUTCHours()).padStart(2, '0');
  const mm = String(date.getUTCMinutes()).padStart(2, '0');
  return hh === '00' && mm === '00' ? day : `${hh}:${mm}`;
}

function axes(format, interval) {
  const text = cssVar('--muted');
  const grid = cssVar('--grid');
  return [
    {
      stroke: text,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      space: 60,
      incrs: STEPS[interval] || STEPS.day,
      values: (u, splits) => splits.map((ts) => tick(ts, interval)),
    },
    {
      stroke: text,
      grid: { stroke: grid, width: 1 },
      ticks: { show: false },
      size: 64,
      values: (u, ticks) => ticks.map((v) => format(v)),
    },
  ];
}

// Draws into `container` (replacing a previous chart there). `series`: [{label, values,
// color?, dashed?}]; `labels`: the buckets; `format`: the y values' display; `key`: written
// to data-drawn after each draw (tests and the bench wait for it); `bars`: bars, not lines;
// `range`: the x axis's [first, last] label when the data may not span the period.
export function timeChart(container, { labels, series, interval, format, key, bars = false, height = 240, range = null }) {
  const previous = charts.get(container);
  if (previous) {
    previous.observer.disconnect();
    previous.chart.destroy();
  }
  container.replaceChildren();
  const accent = cssVar('--accent');
  const data = [labels.map(stamp), ...series.map((s) => s.values.map((v) => (v == null ? null : v)))];
  const options = {
    width: Math.max(container.clientWidth, 200),
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { y: false, points: { size: 7 } },
    legend: { show: true, live: true },
    scales: {
      x: range ? { time: true, range: () => range.map(stamp) } : { time: true },
      y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: axes(format, interval),
    series: [
      { label: 'Time', value: (u, ts) => (ts == null ? '–' : bucket(new Date(ts * 1000).toISOString().slice(0, 19), interval)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color || accent,
        width: bars ? 0 : 2,
        dash: s.dashed ? [5, 5] : undefined,
        fill: bars ? s.color || accent : s.dashed ? undefined : `${accent}22`,
        points: { show: labels.length < 40 && !bars },
        paths: bars ? uPlot.paths.bars({ size: [0.8, 24] }) : undefined,
        spanGaps: false,
        value: (u, v) => (v == null ? '–' : format(v)),
      })),
    ],
    hooks: {
      draw: [() => {
        if (key != null) container.dataset.drawn = key;
      }],
    },
  };
  const chart = new uPlot(options, data, container);
  const observer = new ResizeObserver(() => {
    if (!container.isConnected) {
      // The view was left: let the chart go.
      observer.disconnect();
      chart.destroy();
      charts.delete(container);
      return;
    }
    const width = Math.max(container.clientWidth, 200);
    if (Math.abs(width - chart.width) > 1) chart.setSize({ width, height });
  });
  observer.observe(container);
  charts.set(container, { chart, observer });
  return chart;
}
