-- stored_at: when each row of events was stored (the insert's `now64(6)`), the key the
-- raw export pages on (app/query/export.py). Event time cannot be that key: a late event
-- or a batch replayed after an outage is stored after rows with later event times, and a
-- cursor past them would skip it; the time of storing only grows.
--
-- MATERIALIZED, so ClickHouse computes it for every insert (inserts cannot set it, and
-- `SELECT *` leaves it out, so the rollups' views do not see it). Rows stored before
-- this migration take their receive time: the column is added with that expression,
-- written into every part once (MATERIALIZE COLUMN), and only then switched to now64(6),
-- which from then on applies to new rows only.
ALTER TABLE {db}.events
    ADD COLUMN IF NOT EXISTS stored_at DateTime64(6, 'UTC') MATERIALIZED toDateTime64(received_at, 6);

ALTER TABLE {db}.events MATERIALIZE COLUMN stored_at SETTINGS mutations_sync = 2;

ALTER TABLE {db}.events MODIFY COLUMN stored_at DateTime64(6, 'UTC') MATERIALIZED now64(6);
