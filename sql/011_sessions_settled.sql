-- Settled sessions: one finished row per session, written minutes after its last insert,
-- so that dashboards scan finished sessions instead of merging the `sessions` rollup's
-- partial rows per query. Replaces the day-by-day `sessions_closed` of 010, which kept
-- the last four to five days open (a day was only closed once no event could still reach
-- it): merging those at query time was most of each dashboard query's cost.
--
-- `session_touches` logs which sessions each insert wrote to, stamped with the insert's
-- time (`now()` when the materialized view runs, not an event time, so a batch that sat in
-- the spool during an outage counts when it reaches the store). The settler
-- (app/store/closer.py) periodically takes every session touched between its last
-- watermark and a new one a few minutes in the past, merges all of that session's partial
-- rows from `sessions` and writes the result here, versioned by the new watermark, then
-- records the watermark in `sessions_settle_runs`.
--
-- Readers (app/query/sql.py) take a session from here, FINAL (its latest version), unless
-- it was touched at or after the last recorded watermark; those few are merged from
-- `sessions`. A late row for a settled session therefore reopens it until the next run
-- settles it again: exact whatever the lateness.
CREATE TABLE IF NOT EXISTS {db}.session_touches
(
    site_id          LowCardinality(String),
    inserted_at      DateTime('UTC'),
    session_start    DateTime64(3, 'UTC'),
    session_key      UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(inserted_at)
ORDER BY (site_id, inserted_at, session_start, session_key)
TTL inserted_at + INTERVAL {retention_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.session_touches_mv TO {db}.session_touches AS
SELECT site_id, max(now()) AS inserted_at, session_start, session_key
FROM (SELECT site_id, session_start, cityHash64(sid, session_seq) AS session_key FROM {db}.events)
GROUP BY site_id, session_start, session_key;

-- Sessions stored before this migration count as touched at the epoch, so that the first
-- run settles them (until then they are all read as open).
INSERT INTO {db}.session_touches (site_id, inserted_at, session_start, session_key)
SELECT site_id, toDateTime(0, 'UTC'), session_start, session_key
FROM {db}.sessions
GROUP BY site_id, session_start, session_key;

CREATE TABLE IF NOT EXISTS {db}.sessions_settled
(
    site_id          LowCardinality(String),
    session_start    DateTime64(3, 'UTC'),
    session_key      UInt64,
    sid              String,
    session_seq      UInt16,
    visitor_id       UInt64,
    first_ts         DateTime64(3, 'UTC'),
    last_ts          DateTime64(3, 'UTC'),
    duration_ms      UInt32,
    views            UInt64,
    engagements      UInt64,
    customs          UInt64,
    errors           UInt64,
    error_pages      UInt64,
    engaged_ms       UInt64,
    max_scroll       UInt8,
    entry_page       String,
    exit_page        String,
    entry_route      String,
    exit_route       String,
    source           String,
    referrer         String,
    utm_source       String,
    utm_medium       String,
    utm_campaign     String,
    country          LowCardinality(String),
    device           LowCardinality(String),
    browser          LowCardinality(String),
    os               LowCardinality(String),
    user_id          String,
    settled_at       DateTime('UTC')
)
ENGINE = ReplacingMergeTree(settled_at)
PARTITION BY toYYYYMM(session_start)
ORDER BY (site_id, session_start, session_key)
TTL toDateTime(session_start) + INTERVAL {retention_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.sessions_settle_runs
(
    watermark  DateTime('UTC'),
    ran_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY watermark;

DROP TABLE IF EXISTS {db}.sessions_closed;

DROP TABLE IF EXISTS {db}.sessions_closed_days;
