-- Settled sessions of closed days: one row per session, copied once per closed day from
-- `sessions_settled` FINAL by the closer (app/store/closing.py), so that readers take the
-- sessions starting before the closed horizon with a plain scan. `sessions_settled` keeps
-- a session's versions until merges fold them, and its parts overlap in key range (each
-- settling run writes sessions of every day it touched), so FINAL over 30 days of it cost
-- 416 ms against 56 ms for the same 8.2M rows read plain (`bench queries`, 100M events).
CREATE TABLE IF NOT EXISTS {db}.sessions_settled_closed
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
    user_id          String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(session_start)
ORDER BY (site_id, session_start, session_key)
TTL toDateTime(session_start) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Days closed before this migration: copied once (the copy's own SELECT).
CLOSE_AGAIN sessions_settled_closed;
