-- Data lifecycle (app/lifecycle/): per-site retention, and the log of erasures.
--
-- retention_days / rollup_retention_days: how long a site's raw events and its rollups
-- are kept, in days; 0 means the defaults (BEACON_RETENTION_DAYS, and
-- BEACON_ROLLUP_RETENTION_DAYS or else the events' retention). ClickHouse enforces them
-- with TTL rules per site that app/lifecycle/retention.py writes into every table.
ALTER TABLE {db}.sites ADD COLUMN IF NOT EXISTS retention_days UInt32;

ALTER TABLE {db}.sites ADD COLUMN IF NOT EXISTS rollup_retention_days UInt32;

-- Every erasure (one person by uid or sid, or a whole site): who asked, when, what, and
-- the rows it removed per table. The person is named by a SHA-256 of (site, kind,
-- value) only, so the log keeps no identifier of whom it erased yet can answer "was this
-- uid erased?" for someone who knows it. Kept when its site is deleted.
CREATE TABLE IF NOT EXISTS {db}.erasures
(
    site_id       LowCardinality(String),
    at            DateTime64(3, 'UTC'),
    by            String,
    kind          LowCardinality(String),
    subject_hash  String,
    sessions      UInt64,
    removed       Map(String, UInt64),
    rebuilt       Map(String, UInt64)
)
ENGINE = MergeTree
ORDER BY (site_id, at);
