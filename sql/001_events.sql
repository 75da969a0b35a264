-- One wide table for every event type (page views, vitals, timings, errors,
-- interactions, custom events). Columns a type does not use keep their default,
-- which costs next to nothing in a column store.
--
-- (sid, session_seq) is the server-side session: the snippet's session id, cut again
-- wherever two events are more than 30 minutes apart (app/ingest/visitor.py);
-- session_start is stamped at ingest so session rollups have a stable key.
--
-- ORDER BY serves per-site time-range scans first (every dashboard query), then the
-- event type (most queries read one type) and the visitor (session reconstruction).
-- Monthly partitions make the retention TTL drop whole parts.
-- non_replicated_deduplication_window keeps the hashes of recent inserts so that a
-- batch retried with the same insert_deduplication_token is stored once.
CREATE TABLE IF NOT EXISTS {db}.events
(
    site_id          LowCardinality(String),
    ts               DateTime64(3, 'UTC'),
    received_at      DateTime64(3, 'UTC'),
    type             LowCardinality(String),
    sid              String,
    visitor_id       UInt64,
    session_seq      UInt16,
    session_start    DateTime64(3, 'UTC'),
    user_id          String,
    pid              String,

    url              String,
    host             LowCardinality(String),
    path             String,
    route            String,
    query            String,
    title            String,
    nav              LowCardinality(String),
    vw               UInt16,
    vh               UInt16,
    sw               UInt16,
    sh               UInt16,
    lang             LowCardinality(String),

    referrer         String,
    referrer_domain  String,
    referrer_source  LowCardinality(String),
    referrer_name    LowCardinality(String),
    utm_source       String,
    utm_medium       String,
    utm_campaign     String,
    utm_term         String,
    utm_content      String,

    country          LowCardinality(String),
    browser          LowCardinality(String),
    browser_version  LowCardinality(String),
    os               LowCardinality(String),
    os_version       LowCardinality(String),
    device           LowCardinality(String),

    name             LowCardinality(String),
    value            Float64,
    rating           LowCardinality(String),
    metric_id        String,
    target           String,
    attr             Map(String, String),
    props            Map(String, String),

    dns              Float32,
    tcp              Float32,
    tls              Float32,
    req              Float32,
    res              Float32,
    dom              Float32,
    load             Float32,
    transfer         UInt64,
    longtasks        UInt32,
    tbt              Float32,

    error_kind       LowCardinality(String),
    error_type       LowCardinality(String),
    message          String,
    stack            String CODEC(ZSTD(3)),
    file             String,
    line             UInt32,
    col              UInt32,
    release          LowCardinality(String),
    method           LowCardinality(String),
    req_url          String,
    status           UInt16,
    duration         Float32,
    fingerprint      String,
    culprit          String,

    text             String,
    rage             UInt8,
    scroll_depth     UInt8,
    engaged_ms       UInt32,

    INDEX idx_sid sid TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_fingerprint fingerprint TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, toDate(ts), type, visitor_id, ts)
TTL toDateTime(ts) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;
