-- Closed sessions: one finished row per session, so that dashboards read old sessions
-- with a plain scan instead of merging the `sessions` rollup's partial rows per query.
--
-- A session can only change while events for it can still arrive. Ingest drops events
-- older than BEACON_MAX_EVENT_AGE_HOURS (72 h by default), so once a UTC day of session
-- starts lies further back than that plus a day, its sessions are final: the closer
-- (app/store/closer.py) then copies that day from `sessions`, merged, into this table,
-- with a deduplication token per day so that a retried copy is stored once, and records
-- the day in `sessions_closed_days`. Queries read this table before the closed horizon
-- and merge `sessions` only after it (app/query/sql.py).
CREATE TABLE IF NOT EXISTS {db}.sessions_closed
(
    site_id          LowCardinality(String),
    session_start    DateTime64(3, 'UTC'),
    session_key      UInt64,
    sid              String,
    session_seq      UInt16,
    visitor_id       UInt64,
    first_ts         DateTime64(3, 'UTC'),
    last_ts          DateTime64(3, 'UTC'),
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
    user_id          String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(session_start)
ORDER BY (site_id, toDate(session_start), session_key)
TTL toDateTime(session_start) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.sessions_closed_days
(
    day        Date,
    closed_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(closed_at)
ORDER BY day;
