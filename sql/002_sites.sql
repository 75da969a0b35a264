-- Sites and their API tokens: small mutable tables. Every change inserts a new row
-- with a higher version; readers take the latest row per key (argMax / FINAL).
CREATE TABLE IF NOT EXISTS {db}.sites
(
    site_id     String,
    domain      String,
    origins     Array(String),
    created_at  DateTime64(3, 'UTC'),
    deleted     UInt8,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY site_id;

-- Only a SHA-256 of each token is kept; the token itself is shown once at creation.
CREATE TABLE IF NOT EXISTS {db}.tokens
(
    token_hash  String,
    site_id     String,
    created_at  DateTime64(3, 'UTC'),
    revoked     UInt8,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY token_hash;
