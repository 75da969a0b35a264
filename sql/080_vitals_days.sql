-- `vitals_daily` (sql/005) again, as `vitals_days`, in granules of 256 rows instead of
-- 8,192. A period's days outside its whole weeks are a few days of each metric and
-- dimension, but a row holds a t-digest state (often kilobytes), and a granule of 8,192
-- such rows spans many days and dimensions: every one of its states was read and
-- deserialized to keep a few. Measured on `bench queries` stores, filling the closed
-- days' vitals cache: the pages' days 75-92 ms in 8,192-row granules against 41 ms in
-- 256-row ones at 10M events (144-176 against 76-103 at 100M); the whole site's and the
-- attribution targets' whole days 20-24 ms from here against 44-51 ms hour by hour from
-- `vitals_hourly` (28-39 against 55-59 at 100M), which is why those days are now read
-- from here as well (app/query/vitals.py).
--
-- A table's granule size cannot be altered, so the rows move: the old view goes first
-- (migrations run before ingest starts), `MOVE_ROWS` copies every row of the old table
-- into the new one (Beacon's own directive, app/store/migrate.py: only while the old
-- table exists, emptying the new one first, so an interrupted migration runs again
-- whole), then the new view, then the old table goes. Rows are copied rather than rebuilt
-- from events, since a site may keep its rollups longer than its events.
CREATE TABLE IF NOT EXISTS {db}.vitals_days
(
    site_id      LowCardinality(String),
    name         LowCardinality(String),
    dim          LowCardinality(String),
    day          Date,
    dim_value    String,
    samples      SimpleAggregateFunction(sum, UInt64),
    good         SimpleAggregateFunction(sum, UInt64),
    poor         SimpleAggregateFunction(sum, UInt64),
    quantiles    AggregateFunction(quantilesTDigest(0.5, 0.75, 0.9, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, name, dim, day, dim_value)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

DROP VIEW IF EXISTS {db}.vitals_daily_mv;

MOVE_ROWS {db}.vitals_daily TO {db}.vitals_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.vitals_days_mv TO {db}.vitals_days AS
SELECT
    site_id,
    name,
    pair.1 AS dim,
    toDate(ts) AS day,
    pair.2 AS dim_value,
    count() AS samples,
    countIf(rating = 'good') AS good,
    countIf(rating = 'poor') AS poor,
    quantilesTDigestState(0.5, 0.75, 0.9, 0.95, 0.99)(value) AS quantiles
FROM {db}.events
ARRAY JOIN [('', ''), ('page', path), ('route', route), ('device', toString(device)),
            ('browser', toString(browser)), ('country', toString(country)),
            ('target', target)] AS pair
WHERE type = 'vital'
GROUP BY site_id, name, dim, day, dim_value;

DROP TABLE IF EXISTS {db}.vitals_daily;
