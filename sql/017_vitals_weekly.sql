-- Vitals rollup by week: `vitals_daily` (sql/005) again, per Monday-to-Sunday UTC week.
-- Merging t-digest states costs in proportion to their centroids, and a page's week
-- holds far fewer than its seven days apart (a day of a small page is nearly one centroid
-- per sample; a week of it is compressed). A month of "vitals by page" reads the whole
-- weeks of the period here, the other whole days from `vitals_daily` (now `vitals_days`,
-- sql/080), and only the partial days at its edges from raw events (app/query/vitals.py).
CREATE TABLE IF NOT EXISTS {db}.vitals_weekly
(
    site_id      LowCardinality(String),
    name         LowCardinality(String),
    dim          LowCardinality(String),
    week         Date,
    dim_value    String,
    samples      SimpleAggregateFunction(sum, UInt64),
    good         SimpleAggregateFunction(sum, UInt64),
    poor         SimpleAggregateFunction(sum, UInt64),
    quantiles    AggregateFunction(quantilesTDigest(0.5, 0.75, 0.9, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(week)
ORDER BY (site_id, name, dim, week, dim_value)
TTL week + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

-- Vitals stored before this migration: folded in once by the view's own query (BACKFILL,
-- app/store/migrate.py), while the rollup is still empty and before its view exists
-- (migrations run at start-up, before ingest).
BACKFILL {db}.vitals_weekly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.vitals_weekly_mv TO {db}.vitals_weekly AS
SELECT
    site_id,
    name,
    pair.1 AS dim,
    toMonday(ts) AS week,
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
GROUP BY site_id, name, dim, week, dim_value;
