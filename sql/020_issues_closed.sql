-- Closed issue days: the issue rollups' days that can no longer change, finalized into
-- plain numbers, so that the list and the detail stop merging `uniq` states for them.
--
-- Merging the per-day `uniq` states of `issues_daily` and `issue_facets_daily` (006,
-- 007) is most of the cost of the issue list in a fresh process and of every issue
-- detail over a month. A UTC day cannot change any more once ingest would drop every
-- event that could still belong to it (the same horizon as the session closer, see
-- 010): the triage closer (app/triage/closer.py) then copies the day from both rollups,
-- merged and finalized, into this table, with a deduplication token per day and rollup
-- so that a retried copy is stored once, and records the day in `issue_closed_days`.
-- Readers take the days before the closed horizon from here and merge the rollups only
-- for the days after it (app/triage/rollups.py).
--
-- One row per (site, dimension, fingerprint, day, value): dimension '' is the issue
-- itself (value '', with sessions), the others are the facets of `issue_facets_daily`
-- (sessions 0). The key starts with the dimension so that the list reads the issues'
-- own rows of a site as one range, and the detail one issue's rows per dimension; small
-- granules because the detail reads a few hundred rows of one issue.
CREATE TABLE IF NOT EXISTS {db}.issue_days_closed
(
    site_id      LowCardinality(String),
    dimension    LowCardinality(String),
    fingerprint  String,
    day          Date,
    value        String,
    events       UInt64,
    users        UInt64,
    sessions     UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, dimension, fingerprint, day, value)
TTL day + INTERVAL {retention_days} DAY
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.issue_closed_days
(
    day        Date,
    closed_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(closed_at)
ORDER BY day;
