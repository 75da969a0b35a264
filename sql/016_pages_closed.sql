-- Closed pages: the finished UTC days of `pages_daily`, merged once into plain counts, so
-- that "breakdown by page" adds up numbers for old days instead of merging ~800 k visitor
-- and session hashes per month of a busy site's states on every query.
--
-- As with sessions (sql/010), a day cannot change any more once ingest drops every event
-- that could still belong to it (BEACON_MAX_EVENT_AGE_HOURS); the pages closer
-- (app/store/pages_closer.py) then copies that day from `pages_daily`, merged, with a
-- deduplication token per day, and records it in `pages_closed_days`. Queries read this
-- table before the closed horizon and merge `pages_daily` only after it (app/query/pages.py).
CREATE TABLE IF NOT EXISTS {db}.pages_closed
(
    site_id      LowCardinality(String),
    day          Date,
    path         String,
    route        String,
    pageviews    UInt64,
    visitors     UInt64,
    sessions     UInt64,
    error_views  UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, path, route)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.pages_closed_days
(
    day        Date,
    closed_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(closed_at)
ORDER BY day;
