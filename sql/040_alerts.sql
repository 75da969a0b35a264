-- Alerts (DESIGN §8): rules, each rule's evaluation state, the alerts (incidents) they
-- open, every state change and action, silences, and notification deliveries.
--
-- Small mutable tables on ReplacingMergeTree(version): a change is a new row with a
-- higher version, readers take the newest per key (argMax). Rows written by the
-- evaluator (states, alerts, deliveries) and rows written by people through the API
-- (rules, silences, actions in the history) are different tables or different rows, so
-- neither overwrites the other's changes.

CREATE TABLE IF NOT EXISTS {db}.alert_rules
(
    site_id     LowCardinality(String),
    rule_id     String,
    spec        String,
    created_at  DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC'),
    deleted     UInt8,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, rule_id);

-- The evaluator's state of each rule. `seq` counts the rule's state changes: in scale
-- mode a change from seq N is claimed in Redis before it is written, so two evaluators
-- can never both advance one rule from the same state.
CREATE TABLE IF NOT EXISTS {db}.alert_states
(
    site_id           LowCardinality(String),
    rule_id           String,
    seq               UInt64,
    status            LowCardinality(String),
    alert_id          String,
    since             DateTime64(3, 'UTC'),
    opened_at         DateTime64(3, 'UTC'),
    started_at        DateTime64(3, 'UTC'),
    value             Float64,
    notified          UInt8,
    last_notified_at  DateTime64(3, 'UTC'),
    updated_at        DateTime64(3, 'UTC'),
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, rule_id);

-- One row per alert (a rule's episode from pending to ok or resolved), newest version
-- wins. `detail` is the last reading's detail (JSON: z-score, issues, samples).
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    site_id      LowCardinality(String),
    alert_id     String,
    rule_id      String,
    rule_name    String,
    metric       LowCardinality(String),
    severity     LowCardinality(String),
    status       LowCardinality(String),
    value        Float64,
    threshold    Float64,
    opened_at    DateTime64(3, 'UTC'),
    started_at   DateTime64(3, 'UTC'),
    resolved_at  DateTime64(3, 'UTC'),
    notified     UInt8,
    detail       String,
    updated_at   DateTime64(3, 'UTC'),
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, alert_id);

-- Every state change (kind 'transition', with the value seen) and every action
-- (acknowledge, resolve, silence, test), append-only.
CREATE TABLE IF NOT EXISTS {db}.alert_history
(
    site_id        LowCardinality(String),
    rule_id        String,
    alert_id       String,
    at             DateTime64(3, 'UTC'),
    kind           LowCardinality(String),
    from_status    LowCardinality(String),
    to_status      LowCardinality(String),
    value          Float64,
    notified       UInt8,
    reason         String,
    actor          String,
    note           String,
    transition_id  String
)
ENGINE = MergeTree
ORDER BY (site_id, rule_id, at)
TTL toDateTime(at) + INTERVAL {retention_days} DAY;

-- Silences per rule: no new firing notification until `until` (state changes are still
-- evaluated and recorded).
CREATE TABLE IF NOT EXISTS {db}.alert_silences
(
    site_id  LowCardinality(String),
    rule_id  String,
    until    DateTime64(3, 'UTC'),
    actor    String,
    note     String,
    version  UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, rule_id);

-- Notifications: one row per (state change, channel), newest version wins. `channel`
-- is the channel's JSON (with its secret, like the rule), `payload` the notification,
-- so that a restarted or new evaluator can send what is still pending.
CREATE TABLE IF NOT EXISTS {db}.alert_deliveries
(
    site_id          LowCardinality(String),
    delivery_id      String,
    rule_id          String,
    alert_id         String,
    transition_id    String,
    kind             LowCardinality(String),
    channel_type     LowCardinality(String),
    target           String,
    channel          String,
    payload          String,
    status           LowCardinality(String),
    attempts         UInt16,
    last_error       String,
    created_at       DateTime64(3, 'UTC'),
    updated_at       DateTime64(3, 'UTC'),
    next_attempt_at  DateTime64(3, 'UTC'),
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, delivery_id);
