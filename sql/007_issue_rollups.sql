-- Error issues, continued (DESIGN §7): the rollups that keep the issue list and detail
-- off raw events. All three are fed by materialized views on `events` and hold only
-- SimpleAggregateFunction columns, except the facets' per-day user states.
--
-- issues: one row per (site, fingerprint) after merges: all-time count, first and last
-- sighting with their release (min/max of a (time, release) tuple is argMin/argMax that a
-- merge can keep without an aggregate state), and the latest event's fields, which the
-- title is made of. The list reads it for lifetimes, titles and text search (a few
-- thousand small rows instead of the daily rollup's states).
CREATE TABLE IF NOT EXISTS {db}.issues
(
    site_id      LowCardinality(String),
    fingerprint  String,
    events       SimpleAggregateFunction(sum, UInt64),
    first        SimpleAggregateFunction(min, Tuple(DateTime64(3, 'UTC'), String)),
    last         SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), String)),
    sample       SimpleAggregateFunction(
                     max,
                     Tuple(DateTime64(3, 'UTC'), String, String, String, String, String,
                           String, UInt16, String))
)
ENGINE = AggregatingMergeTree
ORDER BY (site_id, fingerprint)
SETTINGS non_replicated_deduplication_window = 10000;

-- issues_hourly: events per (site, fingerprint, hour): the detail's hourly histogram and
-- the hours to read an issue's most recent events from. Plain counts only (an hourly
-- grain with uniq states was too big to merge, see 006).
CREATE TABLE IF NOT EXISTS {db}.issues_hourly
(
    site_id      LowCardinality(String),
    fingerprint  String,
    hour         DateTime64(3, 'UTC'),
    events       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, fingerprint, hour)
TTL toDateTime(hour) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- issue_facets_daily: events and users per (site, fingerprint, UTC day, dimension, value)
-- for the detail's breakdowns by browser, os, page (path) and release.
CREATE TABLE IF NOT EXISTS {db}.issue_facets_daily
(
    site_id      LowCardinality(String),
    fingerprint  String,
    day          Date,
    dimension    LowCardinality(String),
    value        String,
    events       SimpleAggregateFunction(sum, UInt64),
    users        AggregateFunction(uniq, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, fingerprint, day, dimension, value)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Errors stored before this migration: folded in once by the view's own query (BACKFILL,
-- app/store/migrate.py), while each rollup is still empty and before its view exists
-- (migrations run at start-up, before ingest).
BACKFILL {db}.issues_mv;

BACKFILL {db}.issues_hourly_mv;

BACKFILL {db}.issue_facets_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.issues_mv TO {db}.issues AS
SELECT
    site_id,
    fingerprint,
    count() AS events,
    min((ts, toString(release))) AS first,
    max((ts, toString(release))) AS last,
    max((ts, toString(error_kind), toString(error_type), message, culprit, file, req_url,
         status, toString(method))) AS sample
FROM {db}.events
WHERE type = 'error' AND fingerprint != ''
GROUP BY site_id, fingerprint;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.issues_hourly_mv TO {db}.issues_hourly AS
SELECT site_id, fingerprint, toStartOfHour(ts) AS hour, count() AS events
FROM {db}.events
WHERE type = 'error' AND fingerprint != ''
GROUP BY site_id, fingerprint, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.issue_facets_daily_mv TO {db}.issue_facets_daily AS
SELECT
    site_id,
    fingerprint,
    toDate(ts) AS day,
    facet.1 AS dimension,
    facet.2 AS value,
    count() AS events,
    uniqState(visitor_id) AS users
FROM {db}.events
ARRAY JOIN [('browser', toString(browser)), ('os', toString(os)), ('path', path),
            ('release', toString(release))] AS facet
WHERE type = 'error' AND fingerprint != ''
GROUP BY site_id, fingerprint, day, dimension, value;
