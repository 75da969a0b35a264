// Display formatting only: the numbers themselves are the API's, never computed here.

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
const twoDigits = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });

export const METRICS = [
  { key: 'visitors', label: 'Visitors', kind: 'count' },
  { key: 'sessions', label: 'Sessions', kind: 'count' },
  { key: 'pageviews', label: 'Page views', kind: 'count' },
  { key: 'bounce_rate', label: 'Bounce rate', kind: 'rate', lowerIsBetter: true },
  { key: 'engagement_rate', label: 'Engagement rate', kind: 'rate' },
  { key: 'views_per_session', label: 'Views per session', kind: 'ratio' },
  { key: 'avg_session_duration_ms', label: 'Session duration', kind: 'ms' },
  { key: 'avg_engaged_ms', label: 'Engaged time', kind: 'ms' },
  { key: 'error_rate', label: 'Error rate', kind: 'rate', lowerIsBetter: true },
];

export function count(value) {
  if (value == null) return '–';
  return Math.abs(value) >= 10_000 ? compact.format(value) : integer.format(value);
}

export function fullCount(value) {
  return value == null ? '–' : integer.format(value);
}

export function percent(value, digits = 1) {
  if (value == null) return '–';
  return `${(value * 100).toFixed(digits)}%`;
}

export function duration(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

export function metricValue(kind, value) {
  if (kind === 'rate') return percent(value);
  if (kind === 'ms') return duration(value);
  if (kind === 'ratio') return value == null ? '–' : twoDigits.format(value);
  return count(value);
}

// Change against the previous period: relative for counts and times, percentage points
// for rates. Returns {text, direction: 'up'|'down'|'flat', good: bool|null, title}.
export function change(metric, value, previous) {
  if (value == null || previous == null) return null;
  if (metric.kind === 'rate') {
    const points = (value - previous) * 100;
    const direction = Math.abs(points) < 0.05 ? 'flat' : points > 0 ? 'up' : 'down';
    return {
      text: `${points > 0 ? '+' : ''}${points.toFixed(1)} pp`,
      direction,
      good: direction === 'flat' ? null : (points < 0) === Boolean(metric.lowerIsBetter),
      title: `previous period: ${percent(previous)}`,
    };
  }
  if (previous === 0) {
    return value === 0
      ? { text: '0%', direction: 'flat', good: null, title: 'previous period: 0' }
      : { text: 'new', direction: 'up', good: null, title: 'nothing in the previous period' };
  }
  const relative = (value - previous) / previous;
  const direction = Math.abs(relative) < 0.0005 ? 'flat' : relative > 0 ? 'up' : 'down';
  return {
    text: `${relative > 0 ? '+' : ''}${(relative * 100).toFixed(relative > -1 && relative < 1 ? 1 : 0)}%`,
    direction,
    good: direction === 'flat' ? null : (relative < 0) === Boolean(metric.lowerIsBetter),
    title: `previous period: ${metricValue(metric.kind, previous)}`,
  };
}

// Web vitals: thresholds of DESIGN §6 (the web-vitals ones) for colouring a percentile.
export const VITALS = {
  LCP: { label: 'Largest Contentful Paint', good: 2500, poor: 4000 },
  INP: { label: 'Interaction to Next Paint', good: 200, poor: 500 },
  CLS: { label: 'Cumulative Layout Shift', good: 0.1, poor: 0.25 },
  FCP: { label: 'First Contentful Paint', good: 1800, poor: 3000 },
  TTFB: { label: 'Time to First Byte', good: 800, poor: 1800 },
};

export function rating(name, value) {
  if (value == null) return 'none';
  const limits = VITALS[name];
  if (value <= limits.good) return 'good';
  return value <= limits.poor ? 'needs-improvement' : 'poor';
}

export function vital(name, value) {
  if (value == null) return '–';
  if (name === 'CLS') return value.toFixed(3);
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

// "2026-12-01T02:00:00" (a bucket start in the view's zone) for axis labels and titles.
export function bucket(label, interval) {
  const [date, time] = label.split('T');
  const [, month, day] = date.split('-').map(Number);
  const name = new Date(Date.UTC(2000, month - 1, day)).toLocaleString('en', {
    month: 'short', timeZone: 'UTC',
  });
  if (interval === 'hour' || interval === 'minute') return `${name} ${day}, ${time.slice(0, 5)}`;
  return interval === 'week' ? `Week of ${name} ${day}` : `${name} ${day}`;
}

// An instant ("2026-12-02T01:00:40.401Z") in the view's zone.
export function instant(iso, zone, { seconds = false } = {}) {
  if (!iso) return '–';
  try {
    return new Date(iso).toLocaleString('en', {
      timeZone: zone, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
      second: seconds ? '2-digit' : undefined, hour12: false,
    });
  } catch {
    return iso;
  }
}

export function ago(iso) {
  if (!iso) return '–';
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

export function valueLabel(dimension, value) {
  if (value !== '') return value;
  return { source: 'Direct / none', referrer: 'Direct / none', country: 'Unknown' }[dimension]
    || '(none)';
}

// An instant as the wall-clock time of `zone`, in the API's bucket-label form.
export function wallClock(iso, zone) {
  const parts = {};
  for (const { type, value } of new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
    minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(iso))) parts[type] = value;
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
}
