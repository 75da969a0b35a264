-- Traffic and sessions by device class: the overview of a period filtered on the device
-- alone reads these as an unfiltered overview reads `traffic_slots`,
-- `traffic_days_closed` and `session_slots_closed` (sql/030, sql/031). The device is
-- constant over a session (one browser sends one `sid`), so "the sessions of a device
-- class" and "the events of a device class" hold the same sessions, page views and
-- visitors, and such an overview needs no session population: session metrics of the
-- sessions starting in the period, event metrics by the events' own time
-- (app/query/metrics.py). Before these tables, `overview, device filter` read every
-- settled session of the period and looked up the sessions crossing its edges (see
-- README, Benchmark).
--
-- `traffic_device_slots` is fed by a view, like `traffic_slots` (one more view on every
-- insert: its cost is in the README). Without it the days not closed yet (the last two
-- to five) were read from raw events, which cost as much as the session population saved
-- (measured at 100M events: 3.4M events of one device class in five open days, 264 ms
-- for their distinct visitors). The closed copies (app/store/closing.py) are made from
-- it and from `sessions_settled` like their all-device twins.
CREATE TABLE IF NOT EXISTS {db}.traffic_device_slots
(
    site_id      LowCardinality(String),
    device       LowCardinality(String),
    slot         DateTime('UTC'),
    pageviews    SimpleAggregateFunction(sum, UInt64),
    visitors     AggregateFunction(uniqExact, UInt64),
    error_views  AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(slot)
ORDER BY (site_id, device, slot)
TTL slot + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

-- Events stored before this migration (BACKFILL: the view's own query, app/store/migrate.py).
BACKFILL {db}.traffic_device_slots_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.traffic_device_slots_mv TO {db}.traffic_device_slots AS
SELECT
    site_id,
    device,
    toStartOfFifteenMinutes(toDateTime(ts, 'UTC')) AS slot,
    countIf(type = 'pageview') AS pageviews,
    uniqExactState(visitor_id) AS visitors,
    uniqExactStateIf(pid, type = 'error') AS error_views
FROM {db}.events
GROUP BY site_id, device, slot;

CREATE TABLE IF NOT EXISTS {db}.traffic_device_days_closed
(
    site_id      LowCardinality(String),
    device       LowCardinality(String),
    day          Date,
    pageviews    UInt64,
    visitors     AggregateFunction(uniqExact, UInt64),
    error_views  AggregateFunction(uniqExact, String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, device, day)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.session_device_slots_closed
(
    site_id           LowCardinality(String),
    device            LowCardinality(String),
    slot              DateTime('UTC'),
    sessions          UInt64,
    bounces           UInt64,
    engaged_sessions  UInt64,
    session_views     UInt64,
    duration_ms_sum   UInt64,
    engaged_ms_sum    UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(slot)
ORDER BY (site_id, device, slot)
TTL slot + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CLOSE_AGAIN traffic_device_days_closed;

CLOSE_AGAIN session_device_slots_closed;
