-- issues_by_day: events, users and sessions per (site, UTC day, fingerprint), the day
-- before the fingerprint in the key. `issues_daily` (006) leads with the fingerprint, so
-- reading a few days of every issue (the list's days after the closed horizon, see 020)
-- decodes the `uniq` states of every day of every issue; here those days are one range
-- each. Small granules: the detail reads one issue's rows of a few days from it.
CREATE TABLE IF NOT EXISTS {db}.issues_by_day
(
    site_id      LowCardinality(String),
    day          Date,
    fingerprint  String,
    events       SimpleAggregateFunction(sum, UInt64),
    users        AggregateFunction(uniq, UInt64),
    sessions     AggregateFunction(uniq, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, fingerprint)
TTL day + INTERVAL {retention_days} DAY
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

-- Errors rolled up before this migration: folded in once from `issues_daily` (the same
-- states, merged over releases), while this rollup is still empty and before its view
-- exists (migrations run at start-up, before ingest).
INSERT INTO {db}.issues_by_day
SELECT site_id, day, fingerprint, sum(events), uniqMergeState(users), uniqMergeState(sessions)
FROM {db}.issues_daily
WHERE (SELECT count() FROM {db}.issues_by_day) = 0
GROUP BY site_id, day, fingerprint;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.issues_by_day_mv TO {db}.issues_by_day AS
SELECT
    site_id,
    toDate(ts) AS day,
    fingerprint,
    count() AS events,
    uniqState(visitor_id) AS users,
    uniqState(cityHash64(sid, session_seq)) AS sessions
FROM {db}.events
WHERE type = 'error' AND fingerprint != ''
GROUP BY site_id, day, fingerprint;
