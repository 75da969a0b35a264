-- Vitals by device class: the whole site, pages, routes and attribution targets of each
-- device class, by day and by week, as `vitals_days` and `vitals_weekly` hold them for all
-- devices. Web vitals are read per device class (the thresholds are the same, but phones
-- and desktops differ so much that a blended p75 hides both, which is why CrUX reports
-- each form factor), so `device` is the one filter that the vitals API answers from
-- rollups: a period with device filters only is read here as an unfiltered one is read
-- from the other rollups; any other filter still reads raw vital events
-- (app/query/vitals.py). Before this table, "vitals by page, device filter" read a month
-- of raw vital events on its first call in a process (see README, Benchmark).
--
-- `device` leads the key after the site, so a device filter of any form (values,
-- prefixes, negated) is a range of the key, and states of several classes merge.
--
-- No table by hour: the partial days at a period's edges are read from raw events for the
-- pages anyway, and the whole site and targets come out of that same scan for less than
-- merging their hourly states costs (cold "vitals by page, device filter", in one process,
-- alternating: 355-398 ms against 389-514 at 100M events, 190-208 against 209-283 at 10M),
-- and each view costs every insert (about 1 µs of CPU per stored event each, measured).
CREATE TABLE IF NOT EXISTS {db}.vitals_device_days
(
    site_id      LowCardinality(String),
    device       LowCardinality(String),
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
ORDER BY (site_id, device, name, dim, day, dim_value)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

CREATE TABLE IF NOT EXISTS {db}.vitals_device_weekly
(
    site_id      LowCardinality(String),
    device       LowCardinality(String),
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
ORDER BY (site_id, device, name, dim, week, dim_value)
TTL week + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

-- Vitals stored before this migration: folded in once by each view's own query
-- (BACKFILL, app/store/migrate.py), while its rollup is still empty and before the view
-- exists (migrations run at start-up, before ingest). A site's rollups may outlive its
-- events; the days whose events are gone stay without device rows, as a device filter
-- over them (raw events) found nothing before either.
BACKFILL {db}.vitals_device_days_mv;

BACKFILL {db}.vitals_device_weekly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.vitals_device_days_mv TO {db}.vitals_device_days AS
SELECT
    site_id,
    device,
    name,
    pair.1 AS dim,
    toDate(ts) AS day,
    pair.2 AS dim_value,
    count() AS samples,
    countIf(rating = 'good') AS good,
    countIf(rating = 'poor') AS poor,
    quantilesTDigestState(0.5, 0.75, 0.9, 0.95, 0.99)(value) AS quantiles
FROM {db}.events
ARRAY JOIN [('', ''), ('page', path), ('route', route), ('target', target)] AS pair
WHERE type = 'vital'
GROUP BY site_id, device, name, dim, day, dim_value;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.vitals_device_weekly_mv TO {db}.vitals_device_weekly AS
SELECT
    site_id,
    device,
    name,
    pair.1 AS dim,
    toMonday(ts) AS week,
    pair.2 AS dim_value,
    count() AS samples,
    countIf(rating = 'good') AS good,
    countIf(rating = 'poor') AS poor,
    quantilesTDigestState(0.5, 0.75, 0.9, 0.95, 0.99)(value) AS quantiles
FROM {db}.events
ARRAY JOIN [('', ''), ('page', path), ('route', route), ('target', target)] AS pair
WHERE type = 'vital'
GROUP BY site_id, device, name, dim, week, dim_value;
