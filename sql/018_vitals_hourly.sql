-- Vitals rollup by hour, for the dimensions with few values: the whole site (dim ''),
-- device class, browser, country and attribution target. A period that does not start
-- and end at UTC midnight has partial days at its edges, which would otherwise be read
-- as raw events and turned into t-digests on every query; their whole hours come from
-- here, and only the minutes around them (none for hour-aligned periods) from raw events.
-- Pages and routes are left out: an hour of one page holds a few samples, so its states
-- would cost what the raw events cost (app/query/vitals.py reads those raw).
-- Ordered by hour first, in small granules: a query reads a day's worth of hours at most,
-- and a granule of 8,192 rows of states would span days.
CREATE TABLE IF NOT EXISTS {db}.vitals_hourly
(
    site_id      LowCardinality(String),
    name         LowCardinality(String),
    dim          LowCardinality(String),
    hour         DateTime('UTC'),
    dim_value    String,
    samples      SimpleAggregateFunction(sum, UInt64),
    good         SimpleAggregateFunction(sum, UInt64),
    poor         SimpleAggregateFunction(sum, UInt64),
    quantiles    AggregateFunction(quantilesTDigest(0.5, 0.75, 0.9, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, name, dim, dim_value)
TTL hour + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

-- Vitals stored before this migration: folded in once by the view's own query (BACKFILL,
-- app/store/migrate.py), while the rollup is still empty and before its view exists
-- (migrations run at start-up, before ingest).
BACKFILL {db}.vitals_hourly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.vitals_hourly_mv TO {db}.vitals_hourly AS
SELECT
    site_id,
    name,
    pair.1 AS dim,
    toStartOfHour(toDateTime(ts, 'UTC')) AS hour,
    pair.2 AS dim_value,
    count() AS samples,
    countIf(rating = 'good') AS good,
    countIf(rating = 'poor') AS poor,
    quantilesTDigestState(0.5, 0.75, 0.9, 0.95, 0.99)(value) AS quantiles
FROM {db}.events
ARRAY JOIN [('', ''), ('device', toString(device)), ('browser', toString(browser)),
            ('country', toString(country)), ('target', target)] AS pair
WHERE type = 'vital'
GROUP BY site_id, name, dim, hour, dim_value;
