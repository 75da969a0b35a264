-- The daily secret salt of visitor ids. Salts older than two days are deleted by the
-- TTL, after which a visitor id can no longer be linked to an IP address by anyone.
-- Several writers may propose a salt for the same day; the earliest proposal wins.
CREATE TABLE IF NOT EXISTS {db}.salts
(
    day         Date,
    salt        String,
    created_at  DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (day, created_at)
TTL day + INTERVAL 2 DAY;
