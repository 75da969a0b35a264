"""Alert rules: the wire shape (msgspec Structs) and the strict checks that name the field.

A rule as the API takes it (DESIGN §8):

    {"name": "checkout errors", "metric": "error_rate", "window": "5m",
     "op": "gt", "threshold": 0.05,          (or "anomaly": {"z": 3.5, "direction": "down"})
     "for": "0m", "min_samples": 20, "severity": "high", "cooldown": "30m",
     "enabled": true, "filters": {"route": "/checkout"}, "vital": "LCP",
     "channels": [{"type": "webhook", "url": "https://…", "secret": "…"}, …]}

Decoding is strict (unknown fields, wrong types and out-of-range values are refused by
msgspec with the path of the field); `check_rule` then checks what depends on several
fields (a vital only for vital metrics, a threshold or an anomaly but not both, filters
only where the query API takes them) and raises `RuleError` whose message starts with
the field's name. Filters are checked by the query API's own parser (`parse_query`), so
a rule takes exactly the filters the API does. What this module does not check: whether
a webhook's host resolves to a private address (`app/alerts/ssrf.py`, which resolves).
"""

from __future__ import annotations

import math
import re
import secrets
from typing import Annotated, Literal

import msgspec

from app.query.params import QueryError, parse_query

__all__ = [
    "ANOMALY_METRICS",
    "FILTERED_METRICS",
    "METRICS",
    "SECRET_MASK",
    "AlertmanagerChannel",
    "Anomaly",
    "Channel",
    "EmailChannel",
    "RuleError",
    "RuleSpec",
    "SlackChannel",
    "WebhookChannel",
    "apply_patch",
    "check_rule",
    "decode_rule",
    "masked",
    "parse_duration",
]

METRICS = (
    "error_rate",
    "errors",
    "issue_new",
    "issue_regressed",
    "issue_spike",
    "vital_p75",
    "poor_share",
    "visitors",
    "pageviews",
    "bounce_rate",
    "engagement_rate",
    "dropped_events",
    "spool_backlog",
)
Metric = Literal[
    "error_rate",
    "errors",
    "issue_new",
    "issue_regressed",
    "issue_spike",
    "vital_p75",
    "poor_share",
    "visitors",
    "pageviews",
    "bounce_rate",
    "engagement_rate",
    "dropped_events",
    "spool_backlog",
]
#: Metrics the query API computes with filters (overview and vitals take them; the
#: triage API and the process counters do not).
FILTERED_METRICS = frozenset(
    {"error_rate", "vital_p75", "poor_share", "visitors", "pageviews", "bounce_rate",
     "engagement_rate"}
)  # fmt: skip
#: Metrics with an hourly series in the query API (`timeseries`), which `anomaly` needs.
ANOMALY_METRICS = frozenset(
    {"error_rate", "visitors", "pageviews", "bounce_rate", "engagement_rate"}
)
VITAL_METRICS = frozenset({"vital_p75", "poor_share"})
VITALS = ("LCP", "INP", "CLS", "FCP", "TTFB")
#: What GET shows instead of a webhook secret; sent back unchanged, it keeps the secret.
SECRET_MASK = "********"

_DURATION = re.compile(r"^(\d{1,7})(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Duration = Annotated[str, msgspec.Meta(max_length=16)]


class RuleError(ValueError):
    """A rule is wrong; the message starts with the field's name."""


def parse_duration(field: str, text: str) -> int:
    """`30s`, `5m`, `1h`, `2d` as seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise RuleError(f"{field}: {text!r} is not a duration like 30s, 5m, 1h or 2d")
    return int(match[1]) * _UNITS[match[2]]


class _Channel(msgspec.Struct, tag_field="type", kw_only=True, forbid_unknown_fields=True):
    pass


class WebhookChannel(_Channel, tag="webhook"):
    url: Url
    #: HMAC-SHA256 key of `X-Beacon-Signature`; generated when not given.
    secret: Annotated[str, msgspec.Meta(max_length=256)] = ""


class SlackChannel(_Channel, tag="slack"):
    url: Url


class AlertmanagerChannel(_Channel, tag="alertmanager"):
    #: Alertmanager's base URL; alerts go to `<url>/api/v2/alerts`.
    url: Url


Address = Annotated[str, msgspec.Meta(max_length=254)]


class EmailChannel(_Channel, tag="email"):
    to: Annotated[list[Address], msgspec.Meta(min_length=1, max_length=20)]


Channel = WebhookChannel | SlackChannel | AlertmanagerChannel | EmailChannel


class Anomaly(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    #: Robust z-score (median/MAD) at which the value is anomalous.
    z: Annotated[float, msgspec.Meta(gt=0, le=100)] = 4.5
    direction: Literal["up", "down", "both"] = "both"
    #: Previous weeks compared (the same hour of the week in each).
    weeks: Annotated[int, msgspec.Meta(ge=3, le=12)] = 8


class RuleSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    name: Name
    metric: Metric
    window: Duration
    op: Literal["gt", "lt", "gte", "lte"] | None = None
    threshold: float | None = None
    anomaly: Anomaly | None = None
    for_: Duration = msgspec.field(default="0s", name="for")
    min_samples: Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)] = 0
    severity: Literal["critical", "high", "medium", "low", "info"] = "medium"
    cooldown: Duration = "0s"
    enabled: bool = True
    filters: dict[Annotated[str, msgspec.Meta(max_length=64)], str | list[str]] = {}
    vital: Literal["LCP", "INP", "CLS", "FCP", "TTFB"] | None = None
    channels: Annotated[list[Channel], msgspec.Meta(max_length=10)] = []

    @property
    def window_seconds(self) -> int:
        return parse_duration("window", self.window)

    @property
    def for_seconds(self) -> int:
        return parse_duration("for", self.for_)

    @property
    def cooldown_seconds(self) -> int:
        return parse_duration("cooldown", self.cooldown)

    def filter_params(self) -> dict[str, list[str]]:
        """The filters as query parameters (`parse_query`'s input)."""
        return {k: [v] if isinstance(v, str) else list(v) for k, v in self.filters.items()}


_decoder = msgspec.json.Decoder(RuleSpec)


def decode_rule(body: bytes) -> RuleSpec:
    """A rule from a request body; msgspec's message names the field when it is wrong."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise RuleError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise RuleError(f"the body is not a JSON rule: {exc}") from None


MAX_WINDOW = 31 * 86400


def check_rule(spec: RuleSpec, *, site: str, smtp_configured: bool) -> RuleSpec:
    """Checks across fields; returns the rule with generated webhook secrets filled in."""
    window = spec.window_seconds
    if not 10 <= window <= MAX_WINDOW:
        raise RuleError("window: from 10s to 31d")
    if not 0 <= spec.for_seconds <= 7 * 86400:
        raise RuleError("for: at most 7d")
    if not 0 <= spec.cooldown_seconds <= 30 * 86400:
        raise RuleError("cooldown: at most 30d")
    if spec.metric in VITAL_METRICS and spec.vital is None:
        raise RuleError(f"vital: {spec.metric} needs one of {', '.join(VITALS)}")
    if spec.metric not in VITAL_METRICS and spec.vital is not None:
        raise RuleError("vital: only for vital_p75 and poor_share")
    if spec.anomaly is not None:
        if spec.op is not None or spec.threshold is not None:
            raise RuleError("anomaly: give either op and threshold, or anomaly")
        if spec.metric not in ANOMALY_METRICS:
            raise RuleError(
                f"anomaly: only for {', '.join(sorted(ANOMALY_METRICS))} "
                "(the metrics with an hourly series)"
            )
        if window != 3600:
            raise RuleError("window: anomaly rules compare whole hours, use 1h")
    else:
        if spec.op is None:
            raise RuleError("op: give op (gt, lt, gte, lte) and threshold, or anomaly")
        if spec.threshold is None:
            raise RuleError("threshold: required with op")
        if not math.isfinite(spec.threshold):
            raise RuleError("threshold: a finite number")
    if spec.filters:
        if spec.metric not in FILTERED_METRICS:
            raise RuleError(f"filters: {spec.metric} is not filtered by dimension")
        try:
            parse_query(site, {"period": ["24h"], **spec.filter_params()})
        except QueryError as exc:
            raise RuleError(f"filters.{exc}") from None
    channels: list[Channel] = []
    for index, channel in enumerate(spec.channels):
        field = f"channels[{index}]"
        match channel:
            case WebhookChannel() | SlackChannel() | AlertmanagerChannel():
                check_http_url(f"{field}.url", channel.url)
            case EmailChannel():
                if not smtp_configured:
                    raise RuleError(f"{field}: e-mail needs an SMTP server (BEACON_SMTP_HOST)")
                for n, address in enumerate(channel.to):
                    if not _EMAIL.match(address):
                        raise RuleError(f"{field}.to[{n}]: {address!r} is not an e-mail address")
        if isinstance(channel, WebhookChannel) and not channel.secret:
            channel = msgspec.structs.replace(channel, secret="whsec_" + secrets.token_hex(24))
        if isinstance(channel, WebhookChannel) and channel.secret == SECRET_MASK:
            raise RuleError(f"{field}.secret: the mask is not a secret; omit it to get one made")
        channels.append(channel)
    return msgspec.structs.replace(spec, channels=channels)


def check_http_url(field: str, url: str) -> None:
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if scheme.lower() not in ("http", "https") or not sep or not host:
        raise RuleError(f"{field}: {url!r} is not an http(s) URL")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise RuleError(f"{field}: the URL has spaces or control characters")


def apply_patch(current: RuleSpec, body: bytes) -> RuleSpec:
    """`current` with the fields of a JSON object merged in (a JSON merge patch on the
    top level). A webhook channel sent back with the masked secret keeps the secret of
    the current channel with the same URL."""
    try:
        patch = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise RuleError(f"the body is not JSON: {exc}") from None
    if not isinstance(patch, dict):
        raise RuleError("the body must be a JSON object of the fields to change")
    merged = msgspec.to_builtins(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    secrets_by_url = {c.url: c.secret for c in current.channels if isinstance(c, WebhookChannel)}
    for channel in merged.get("channels") or []:
        if (
            isinstance(channel, dict)
            and channel.get("type") == "webhook"
            and channel.get("secret") == SECRET_MASK
            and channel.get("url") in secrets_by_url
        ):
            channel["secret"] = secrets_by_url[channel["url"]]
    return decode_rule(msgspec.json.encode(merged))


def masked(spec: RuleSpec) -> dict[str, object]:
    """The rule as GET shows it: webhook secrets replaced by `SECRET_MASK`."""
    data = msgspec.to_builtins(spec)
    for channel in data.get("channels", []):
        if channel.get("type") == "webhook" and channel.get("secret"):
            channel["secret"] = SECRET_MASK
    return data
