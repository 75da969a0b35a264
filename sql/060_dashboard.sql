-- The dashboard's own small tables (app/web/).
--
-- share_keys: read-only shared links (`beacon share add SITE`). Only a SHA-256 of each
-- key is kept; the key is shown once. A change (revocation) is a new row with a higher
-- version; readers take the newest row per key id.
CREATE TABLE IF NOT EXISTS {db}.share_keys
(
    key_id      String,
    key_hash    String,
    site_id     String,
    label       String,
    created_at  DateTime64(3, 'UTC'),
    revoked     UInt8,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key_id;

-- web_secrets: the HMAC key that signs login-session cookies, so that a session survives
-- a restart and is valid on every process serving the dashboard (scale mode). Several
-- processes may propose one at once; the earliest proposal wins, as for salts.
CREATE TABLE IF NOT EXISTS {db}.web_secrets
(
    name        String,
    secret      String,
    created_at  DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (name, created_at);
