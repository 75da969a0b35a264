-- Error issues (DESIGN §6, §7): a rollup of error events per (site, fingerprint), the
-- mutable triage state of each issue, its history, and uploaded source maps.
--
-- issues_daily: one row per (site, fingerprint, UTC day, release) after merges. The key
-- starts with the fingerprint so one issue's rows are one range (detail, triage, regression
-- checks); the list reads the site's rows for the days of its period and takes the partial
-- days at the period's edges from raw events, so counts are exact for any period. An
-- hourly grain was tried first: with thousands of issues it held about one row per two
-- events and merging its uniq states was slower than scanning the events themselves.
-- Release in the key gives each release's first and last sighting per issue (regressions,
-- "first/last release"). `sample` keeps a recent event's fields, which the title is made
-- of: the latest of each insert, and merges keep the last inserted. `anyLast` costs far
-- less to merge than an exact argMax state; events of one issue differ in their title
-- only by wording (engines word the same error differently), so any recent one will do.
CREATE TABLE IF NOT EXISTS {db}.issues_daily
(
    site_id      LowCardinality(String),
    fingerprint  String,
    day          Date,
    release      LowCardinality(String),
    events       SimpleAggregateFunction(sum, UInt64),
    users        AggregateFunction(uniq, UInt64),
    sessions     AggregateFunction(uniq, UInt64),
    first_seen   SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen    SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    sample       SimpleAggregateFunction(
                     anyLast,
                     Tuple(String, String, String, String, String, String, UInt16, String))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, fingerprint, day, release)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Errors stored before this migration: folded in once by the view's own query (BACKFILL,
-- app/store/migrate.py), while the rollup is still empty and before the view below
-- exists (migrations run at start-up, before ingest).
BACKFILL {db}.issues_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.issues_daily_mv TO {db}.issues_daily AS
SELECT
    site_id,
    fingerprint,
    toDate(ts) AS day,
    release,
    count() AS events,
    uniqState(visitor_id) AS users,
    uniqState(cityHash64(sid, session_seq)) AS sessions,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    argMax((toString(error_kind), toString(error_type), message, culprit, file, req_url,
            status, toString(method)), ts) AS sample
FROM {db}.events
WHERE type = 'error' AND fingerprint != ''
GROUP BY site_id, fingerprint, day, release;

-- Triage state: one versioned row per change, the highest version wins (readers use
-- argMax over `version`; ReplacingMergeTree drops the old rows in the background).
-- Each row carries the whole state, so a reader never has to combine rows.
CREATE TABLE IF NOT EXISTS {db}.issue_state
(
    site_id              LowCardinality(String),
    fingerprint          String,
    version              UInt64,
    status               LowCardinality(String),
    resolved_at          DateTime64(3, 'UTC'),
    resolved_in_release  String,
    resolve_mode         LowCardinality(String),
    ignored_at           DateTime64(3, 'UTC'),
    ignore_until_count   UInt64,
    assignee             String,
    updated_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, fingerprint);

-- History: every triage action and comment, append-only.
CREATE TABLE IF NOT EXISTS {db}.issue_history
(
    site_id      LowCardinality(String),
    fingerprint  String,
    at           DateTime64(3, 'UTC'),
    version      UInt64,
    action       LowCardinality(String),
    actor        String,
    detail       String
)
ENGINE = MergeTree
ORDER BY (site_id, fingerprint, at, version);

-- Source maps per site, release and minified file path; a new upload of the same
-- (site, release, file) replaces the old one.
CREATE TABLE IF NOT EXISTS {db}.sourcemaps
(
    site_id      LowCardinality(String),
    release      String,
    file         String,
    uploaded_at  DateTime64(3, 'UTC'),
    size         UInt64,
    content      String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(uploaded_at)
ORDER BY (site_id, release, file);
