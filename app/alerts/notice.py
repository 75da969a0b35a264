"""What a notification says: one `Notice` per state change (or test), rendered by each
channel in its own format.

The generic webhook body is exactly DESIGN §8's: `alert_id`, `rule_id`, `rule`, `site`,
`state` (`firing`, `resolved`, or `test` for `POST …/rules/{id}/test`), `severity`,
`metric`, `value`, `threshold`, `started_at`, `resolved_at`, `url`. The other fields of a
`Notice` (vital, window, filters, the reading's detail) only go into the human-readable
texts of Slack, Alertmanager annotations and e-mail.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["WEBHOOK_FIELDS", "Notice", "describe", "summary"]

WEBHOOK_FIELDS = (
    "alert_id",
    "rule_id",
    "rule",
    "site",
    "state",
    "severity",
    "metric",
    "value",
    "threshold",
    "started_at",
    "resolved_at",
    "url",
)


class Notice(msgspec.Struct, kw_only=True):
    alert_id: str
    rule_id: str
    rule: str
    site: str
    state: str
    severity: str
    metric: str
    value: float | None
    threshold: float | None
    started_at: str | None
    resolved_at: str | None
    url: str
    # Not in the webhook body:
    vital: str | None = None
    window: str = ""
    condition: str = ""
    filters: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    #: When this notice was made (ISO 8601), for channels that stamp their messages.
    sent_at: str = ""

    def webhook_body(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in WEBHOOK_FIELDS}


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def summary(notice: Notice) -> str:
    """One line: `[FIRING] checkout errors — error_rate 0.12 (gt 0.05) on s_…`."""
    metric = f"{notice.metric}({notice.vital})" if notice.vital else notice.metric
    return (
        f"[{notice.state.upper()}] {notice.rule} — {metric} {_number(notice.value)} "
        f"({notice.condition}) on {notice.site}"
    )


def describe(notice: Notice) -> str:
    """A few lines for e-mail bodies and descriptions."""
    lines = [
        summary(notice),
        f"severity: {notice.severity}",
        f"window: {notice.window}",
    ]
    if notice.filters:
        lines.append("filters: " + ", ".join(f"{k}={v}" for k, v in sorted(notice.filters.items())))
    if notice.started_at:
        lines.append(f"started: {notice.started_at}")
    if notice.resolved_at:
        lines.append(f"resolved: {notice.resolved_at}")
    for key, value in sorted(notice.detail.items()):
        lines.append(f"{key}: {value}")
    lines.append(notice.url)
    return "\n".join(lines)
