-- The sessions with a page view of each page, per closed day: one row per (page, day,
-- session). A page filter selects the sessions with a view of the page in the period
-- (app/query/sql.py); before this table it read the path of every page view of the
-- period, and an overview does so three times (its period's starting and crossing
-- sessions, and the previous period's). Sorted by page, the closed days of one page are a
-- range of the key, and only the days not closed yet and the partial days at the edges
-- are read from raw events (see README, Benchmark).
--
-- A closed copy (app/store/closing.py), no view: nothing is added to the cost of an
-- insert. Erasure deletes a person's sessions from it, as from the settled sessions.
CREATE TABLE IF NOT EXISTS {db}.page_sessions_closed
(
    site_id      LowCardinality(String),
    path         String,
    day          Date,
    session_key  UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, path, day, session_key)
TTL day + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CLOSE_AGAIN page_sessions_closed;
