-- Sessions rollup: one row per server-side session (site, sid, session_seq) after
-- merges, fed by every insert into events, so session metrics (bounce, engagement,
-- durations, entry/exit pages, sources) never scan raw events.
--
-- Several inserts add partial states for the same session; readers merge them with
-- GROUP BY session_key (cityHash64(sid, session_seq): grouping by one UInt64 is several
-- times cheaper than by a string and a number).
-- session_start is stamped at ingest and identical for all events of a session, so the
-- sorting key is stable across inserts.
--
-- Engagement events (DESIGN §6, bounce): click, submit, custom, scroll past 50 %.
CREATE TABLE IF NOT EXISTS {db}.sessions
(
    site_id          LowCardinality(String),
    session_start    DateTime64(3, 'UTC'),
    session_key      UInt64,
    sid              SimpleAggregateFunction(any, String),
    session_seq      SimpleAggregateFunction(any, UInt16),
    visitor_id       SimpleAggregateFunction(any, UInt64),
    first_ts         SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts          SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events           SimpleAggregateFunction(sum, UInt64),
    pageviews        SimpleAggregateFunction(sum, UInt64),
    engagements      SimpleAggregateFunction(sum, UInt64),
    customs          SimpleAggregateFunction(sum, UInt64),
    errors           SimpleAggregateFunction(sum, UInt64),
    error_pages      AggregateFunction(uniqExactIf, String, UInt8),
    engaged_ms       SimpleAggregateFunction(sum, UInt64),
    max_scroll       SimpleAggregateFunction(max, UInt8),
    entry_path       AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    exit_path        AggregateFunction(argMaxIf, String, DateTime64(3, 'UTC'), UInt8),
    entry_route      AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    exit_route       AggregateFunction(argMaxIf, String, DateTime64(3, 'UTC'), UInt8),
    referrer_source  AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    referrer_domain  AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_source       AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_medium       AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    utm_campaign     AggregateFunction(argMinIf, String, DateTime64(3, 'UTC'), UInt8),
    country          SimpleAggregateFunction(any, LowCardinality(String)),
    device           SimpleAggregateFunction(any, LowCardinality(String)),
    browser          SimpleAggregateFunction(any, LowCardinality(String)),
    os               SimpleAggregateFunction(any, LowCardinality(String)),
    user_id          SimpleAggregateFunction(max, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(session_start)
ORDER BY (site_id, toDate(session_start), session_key)
TTL toDateTime(session_start) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.sessions_mv TO {db}.sessions AS
SELECT
    site_id,
    session_start,
    session_key,
    any(sid) AS sid,
    any(session_seq) AS session_seq,
    any(visitor_id) AS visitor_id,
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    count() AS events,
    countIf(type = 'pageview') AS pageviews,
    countIf(type IN ('click', 'submit', 'custom') OR (type = 'scroll' AND scroll_depth > 50)
            OR (type = 'engagement' AND scroll_depth > 50)) AS engagements,
    countIf(type = 'custom') AS customs,
    countIf(type = 'error') AS errors,
    uniqExactIfState(pid, type = 'error') AS error_pages,
    sumIf(engaged_ms, type = 'engagement') AS engaged_ms,
    max(scroll_depth) AS max_scroll,
    argMinIfState(path, ts, type = 'pageview') AS entry_path,
    argMaxIfState(path, ts, type = 'pageview') AS exit_path,
    argMinIfState(route, ts, type = 'pageview') AS entry_route,
    argMaxIfState(route, ts, type = 'pageview') AS exit_route,
    argMinIfState(toString(referrer_source), ts, type = 'pageview') AS referrer_source,
    argMinIfState(referrer_domain, ts, type = 'pageview') AS referrer_domain,
    argMinIfState(utm_source, ts, type = 'pageview') AS utm_source,
    argMinIfState(utm_medium, ts, type = 'pageview') AS utm_medium,
    argMinIfState(utm_campaign, ts, type = 'pageview') AS utm_campaign,
    any(country) AS country,
    any(device) AS device,
    any(browser) AS browser,
    any(os) AS os,
    max(user_id) AS user_id
FROM (SELECT *, cityHash64(sid, session_seq) AS session_key FROM {db}.events)
GROUP BY site_id, session_start, session_key;
