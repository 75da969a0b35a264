-- Closed days, one home (app/store/closing.py): a UTC day that ingest can no longer add
-- to (older than BEACON_MAX_EVENT_AGE_HOURS plus a day) is copied once, merged, into
-- plain numbers by every closed copy declared there, and then recorded here, once for
-- all of them. Readers take the closed days from the copies and the rest from the
-- rollups, raw events and the session population.
CREATE TABLE IF NOT EXISTS {db}.closed_days
(
    day        Date,
    closed_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(closed_at)
ORDER BY day;

-- The days both earlier closers had closed (they ran together).
INSERT INTO {db}.closed_days (day)
SELECT day FROM {db}.issue_closed_days
WHERE day IN (SELECT day FROM {db}.pages_closed_days);

-- Traffic of closed days per site and UTC day (from `traffic_slots`, sql/030): the
-- page views, and the states of visitors and errored pages merged over the day's 96
-- slots, so that a month merges thirty states instead of thousands (a visitor of one day
-- is in several of its slots).
CREATE TABLE IF NOT EXISTS {db}.traffic_days_closed
(
    site_id      LowCardinality(String),
    day          Date,
    pageviews    UInt64,
    visitors     AggregateFunction(uniqExact, UInt64),
    error_views  AggregateFunction(uniqExact, String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Sessions of closed days per site and 15-minute slot of their start (from
-- `sessions_settled`, sql/011), as the additive sums every session metric is made of
-- (app/query/sql.py: SESSION_SUMS): a month of sessions is 2,880 rows per site instead of
-- one per session, in any time zone (a local day is a union of slots).
CREATE TABLE IF NOT EXISTS {db}.session_slots_closed
(
    site_id           LowCardinality(String),
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
ORDER BY (site_id, slot)
TTL slot + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Days closed before this migration: folded into the new copies once (the copies' own
-- SELECTs, app/store/closing.py, over every closed day).
CLOSE_AGAIN traffic_days_closed;

CLOSE_AGAIN session_slots_closed;

-- `pages_closed` is no longer read (page breakdowns merge `pages_daily`'s states for a
-- distinct count over the period), and the two bookkeeping tables are `closed_days` now.
DROP TABLE IF EXISTS {db}.pages_closed;

DROP TABLE IF EXISTS {db}.pages_closed_days;

DROP TABLE IF EXISTS {db}.issue_closed_days;
