-- Replaced by `pages_days` (sql/081: the same rows sorted by page, in smaller granules),
-- which took its rows; this file still creates it first, so a store of any age migrates
-- alike.
--
-- Pages rollup: per site, UTC day, page (path) and route template, the page views, and
-- the distinct visitors, sessions and errored page views (pids with an error) as
-- uniqExact states. "Breakdown by page" (and by route) reads it for the whole UTC days
-- of a period instead of the raw page-view and error events.
--
-- The query merges each (day, page) row's states, counts them, and adds the days up: a
-- visitor or session is counted once per UTC day it viewed the page. Visitor ids rotate
-- every UTC day (app/ingest/visitor.py), so across days this differs from a distinct
-- count only for sessions that run past midnight; merging one state per page over the
-- whole period would cost far more (every visitor hash of every day in one set).
-- Visitors and sessions are those of page views; errored page views those of errors
-- (an error event carries its page's path).
CREATE TABLE IF NOT EXISTS {db}.pages_daily
(
    site_id      LowCardinality(String),
    day          Date,
    path         String,
    route        String,
    pageviews    SimpleAggregateFunction(sum, UInt64),
    visitors     AggregateFunction(uniqExact, UInt64),
    sessions     AggregateFunction(uniqExact, UInt64),
    error_views  AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, path, route)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Events stored before this migration: folded in once by the view's own query (BACKFILL,
-- app/store/migrate.py), while the rollup is still empty and before its view exists
-- (migrations run at start-up, before ingest).
BACKFILL {db}.pages_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.pages_daily_mv TO {db}.pages_daily AS
SELECT
    site_id,
    toDate(ts) AS day,
    path,
    route,
    countIf(type = 'pageview') AS pageviews,
    uniqExactStateIf(visitor_id, type = 'pageview') AS visitors,
    uniqExactStateIf(cityHash64(sid, session_seq), type = 'pageview') AS sessions,
    uniqExactStateIf(pid, type = 'error') AS error_views
FROM {db}.events
WHERE type IN ('pageview', 'error')
GROUP BY site_id, day, path, route;
