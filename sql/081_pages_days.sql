-- `pages_daily` (sql/015) again, as `pages_days`: sorted by page first, then day, in
-- granules of 64 rows. A breakdown shows the pages with the most views (the dashboard's
-- card ten, the API a hundred by default) and merges only their uniqExact states of
-- visitors, sessions and errored page views; but sorted by day first, every granule
-- held a day or more of every page, so all pages' states were read and deserialized
-- (building their hash sets) to keep a few. Sorted by page, a page's month is a few
-- adjacent rows, and the primary key finds them (`path IN` the pages shown). Measured on
-- the 100M `bench queries` store (a copy of the table each, medians of 5, twice):
-- breakdown by page, ten rows, 213-222 ms against 329-339 as the store was filled and
-- 569-579 with the old table's parts merged (as a long-running store's are); by route,
-- ten rows, 231-232 against 311-403 and 446-544; a hundred pages 485-729 against 467-563
-- and 666-776. The pages shown are still chosen from every page's plain view counts.
--
-- The rows move as `vitals_daily`'s did (sql/080): the old view goes, `MOVE_ROWS` copies
-- the rows with their TTL rules, the new view starts, the old table goes.
CREATE TABLE IF NOT EXISTS {db}.pages_days
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
ORDER BY (site_id, path, day, route)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 64;

DROP VIEW IF EXISTS {db}.pages_daily_mv;

MOVE_ROWS {db}.pages_daily TO {db}.pages_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.pages_days_mv TO {db}.pages_days AS
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

DROP TABLE IF EXISTS {db}.pages_daily;
