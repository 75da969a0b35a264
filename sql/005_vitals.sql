-- Replaced by `vitals_days` (sql/080: the same rows in smaller granules), which took
-- its rows; this file still creates it first, so a store of any age migrates alike.
--
-- Vitals rollup, in long format: per site, metric and UTC day, one row per
-- (dimension, value) — the whole site (dim ''), each page, route, device class, browser,
-- country and attribution target — holding a t-digest quantile state and the good / poor
-- counts. "p75 LCP by page over 30 days" then merges about 30 small states per page
-- instead of reading every vital event. T-digest rather than reservoir `quantiles`: its
-- states are a few hundred centroids, so merging thousands of them is cheap, and on
-- millions of values it is closer to the exact percentile than an 8,192-value sample.
-- Questions it cannot answer (filters) read events; partial days at a period's edges
-- come from events and are merged with the rollup's states.
CREATE TABLE IF NOT EXISTS {db}.vitals_daily
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
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.vitals_daily_mv TO {db}.vitals_daily AS
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
