-- Traffic by 15-minute slot: per site and UTC quarter hour, the page views, and the
-- distinct visitors (any event) and errored page views (pids with an error event) as
-- uniqExact states. DESIGN §6 counts events by their own time in the bucket of any time
-- zone; every zone in use today is offset from UTC by a whole number of quarter hours
-- (Asia/Kolkata +5:30, Asia/Kathmandu +5:45, America/St_Johns -3:30), so each local
-- minute, hour, day or week bucket is a union of whole slots, and a time series of page
-- views and visitors merges slot rows instead of scanning every event
-- (app/query/traffic.py). A period edge that is not on a quarter hour comes from raw
-- events.
CREATE TABLE IF NOT EXISTS {db}.traffic_slots
(
    site_id      LowCardinality(String),
    slot         DateTime('UTC'),
    pageviews    SimpleAggregateFunction(sum, UInt64),
    visitors     AggregateFunction(uniqExact, UInt64),
    error_views  AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(slot)
ORDER BY (site_id, slot)
TTL slot + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

-- Events stored before this migration (BACKFILL: the view's own query, app/store/migrate.py).
BACKFILL {db}.traffic_slots_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.traffic_slots_mv TO {db}.traffic_slots AS
SELECT
    site_id,
    toStartOfFifteenMinutes(toDateTime(ts, 'UTC')) AS slot,
    countIf(type = 'pageview') AS pageviews,
    uniqExactState(visitor_id) AS visitors,
    uniqExactStateIf(pid, type = 'error') AS error_views
FROM {db}.events
GROUP BY site_id, slot;

-- Events whose session starts outside a period they fall in (sessions crossing its
-- edges) are found by `session_start < from OR session_start >= to` within the period:
-- with a min-max index the scan skips every granule but those of the edge days, since a
-- granule's sessions start at most hours before its events.
ALTER TABLE {db}.events ADD INDEX IF NOT EXISTS idx_session_start session_start TYPE minmax GRANULARITY 1;

ALTER TABLE {db}.events MATERIALIZE INDEX idx_session_start;
