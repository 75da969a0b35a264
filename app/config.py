"""Settings: the one typed view of Beacon's configuration.

Everything configurable comes from `BEACON_*` environment variables, read once by
`Settings.from_env()` and passed down explicitly (`create_app(settings)`); no other
module reads the environment. Every field is documented in the README's table, and a
test keeps the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "BEACON_"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    #: Address and port the HTTP server binds.
    host: str = "127.0.0.1"
    port: int = 8000
    #: Directory for embedded ClickHouse, the spool and the admin socket.
    data_dir: str = "data"
    #: A ClickHouse server (`http://user:pass@host:8123`); empty means embedded chdb.
    clickhouse_url: str = ""
    #: ClickHouse database that holds Beacon's tables.
    database: str = "beacon"
    #: Events older than this many days are dropped by ClickHouse (TTL); a site may set
    #: its own (`beacon site update SITE --retention-days N`).
    retention_days: int = 400
    #: Rollups are kept this many days (0: as long as the events); never less than the
    #: events' retention.
    rollup_retention_days: int = 0
    #: Where the write-ahead spool lives (empty: `<data_dir>/spool`); put it on another
    #: disk than the data so that a lost disk can be restored from a backup plus the spool.
    spool_dir: str = ""
    #: Largest accepted request body, bytes (413 above).
    max_body_bytes: int = 512 * 1024
    #: Flush a batch to ClickHouse at this many rows ...
    batch_rows: int = 100_000
    #: ... or when its oldest row has waited this long.
    batch_ms: int = 2000
    #: Spool size at which ingest answers 503 (bytes not yet stored in ClickHouse).
    spool_max_bytes: int = 1024 * 1024 * 1024
    #: `fsync` the spool before acknowledging (off: durable against a process crash,
    #: not against a machine crash).
    spool_fsync: bool = True
    #: Trusted request header carrying the visitor country (e.g. `CF-IPCountry`).
    country_header: str = ""
    #: Trusted header carrying the client IP set by your proxy (e.g. `X-Forwarded-For`);
    #: empty means the socket peer address.
    client_ip_header: str = ""
    #: Events with a client timestamp older than this are dropped as stale.
    max_event_age_hours: int = 72
    #: Log level for Beacon's JSON logs.
    log_level: str = "INFO"
    #: Redis URL; empty means no Redis (embedded mode). Set: scale mode (README).
    redis_url: str = ""
    #: Prefix of every key Beacon keeps in Redis.
    redis_prefix: str = "beacon"
    #: Scale mode: stream entries (accepted batches) not yet stored at which ingest
    #: answers 503.
    stream_max_entries: int = 100_000
    #: Scale mode: a writer takes over another's unacknowledged entries idle this long.
    stream_claim_idle_ms: int = 60_000
    #: Ingest requests per second per client IP and site (0: no limit) ...
    rate_limit_ip_per_second: float = 20.0
    #: ... and how many may come at once.
    rate_limit_ip_burst: int = 200
    #: Events per second per site (0: no limit) ...
    rate_limit_site_events_per_second: float = 0.0
    #: ... and how many may come at once.
    rate_limit_site_burst: int = 50_000
    #: Scale mode: analytics answers are cached in Redis this many seconds (0: off).
    query_cache_seconds: int = 5
    #: Alerts: seconds between two evaluation rounds of every rule (0: no evaluator).
    alerts_interval: float = 60.0
    #: Alerts: let webhook, Slack and Alertmanager targets be loopback or private
    #: addresses (the SSRF guard refuses them otherwise).
    alerts_allow_private: bool = False
    #: Alerts: attempts per notification before it is recorded as failed ...
    alerts_max_attempts: int = 5
    #: ... and the wait after the first failed attempt, doubled after each next one.
    alerts_retry_seconds: float = 2.0
    #: Alerts: time-out of one notification attempt.
    alerts_timeout_seconds: float = 10.0
    #: Base URL of this Beacon as people reach it (links in notifications); empty:
    #: http://BEACON_HOST:BEACON_PORT.
    public_url: str = ""
    #: E-mail notifications: the SMTP server (empty: no e-mail channel) ...
    smtp_host: str = ""
    smtp_port: int = 587
    #: ... the sender address ...
    smtp_from: str = ""
    #: ... the login (empty: none) ...
    smtp_user: str = ""
    smtp_password: str = ""
    #: ... and whether to upgrade the connection with STARTTLS (port 465: TLS at once).
    smtp_starttls: bool = True

    @property
    def embedded(self) -> bool:
        return not self.clickhouse_url

    @property
    def scale(self) -> bool:
        """Scale mode: a Redis Stream between ingest processes and writers."""
        return bool(self.redis_url)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def chdb_path(self) -> Path:
        return self.data_path / "clickhouse"

    @property
    def spool_path(self) -> Path:
        return Path(self.spool_dir) if self.spool_dir else self.data_path / "spool"

    @property
    def admin_socket(self) -> Path:
        return self.data_path / "admin.sock"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `BEACON_<FIELD>` variables, then `overrides` on top."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.__struct_fields__:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            # "Expected `int`, got `str` - at `$.port`" -> name the variable to fix.
            message = re.sub(r"`\$\.(\w+)`", lambda m: ENV_PREFIX + m[1].upper(), str(exc))
            raise ValueError(f"invalid configuration: {message}") from exc
