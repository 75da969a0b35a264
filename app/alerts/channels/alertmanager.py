"""Prometheus Alertmanager: `POST <url>/api/v2/alerts` with a JSON array of alerts.

Each alert has `labels` (alertname = the rule's name, site, severity, metric, rule_id,
and vital when there is one — Alertmanager groups, routes, silences and deduplicates
by them), `annotations` (summary, description, value, threshold, alert_id),
`startsAt`, `generatorURL`, and `endsAt`: on a resolve the moment it resolved; while
firing, a moment `FIRING_VALIDITY` ahead, as Prometheus does — the evaluator re-sends
firing alerts every `RESEND_SECONDS`, so if Beacon stops, Alertmanager resolves them by
itself instead of keeping them forever.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec

from app.alerts.http import post_json
from app.alerts.notice import Notice, describe, summary
from app.alerts.rules import AlertmanagerChannel

if TYPE_CHECKING:
    from app.alerts.channels import SendContext

__all__ = ["FIRING_VALIDITY", "RESEND_SECONDS", "alerts_of", "send"]

RESEND_SECONDS = 60.0
FIRING_VALIDITY = dt.timedelta(seconds=4 * RESEND_SECONDS)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alerts_of(notice: Notice, now: dt.datetime) -> list[dict[str, Any]]:
    labels = {
        "alertname": notice.rule if notice.state != "test" else f"{notice.rule} (test)",
        "site": notice.site,
        "severity": notice.severity,
        "metric": notice.metric,
        "rule_id": notice.rule_id,
    }
    if notice.vital:
        labels["vital"] = notice.vital
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": summary(notice),
            "description": describe(notice),
            "value": "" if notice.value is None else f"{notice.value:g}",
            "threshold": "" if notice.threshold is None else f"{notice.threshold:g}",
            "alert_id": notice.alert_id,
        },
        "startsAt": notice.started_at or _iso(now),
        "generatorURL": notice.url,
    }
    if notice.state == "resolved":
        alert["endsAt"] = notice.resolved_at or _iso(now)
    elif notice.state == "test":
        alert["endsAt"] = _iso(now + dt.timedelta(minutes=1))
    else:
        alert["endsAt"] = _iso(now + FIRING_VALIDITY)
    return [alert]


async def send(
    context: SendContext, channel: AlertmanagerChannel, notice: Notice, delivery_id: str
) -> None:
    await post_json(
        context.client,
        channel.url.rstrip("/") + "/api/v2/alerts",
        msgspec.json.encode(alerts_of(notice, dt.datetime.now(dt.UTC))),
        allow_private=context.allow_private,
        seconds=context.timeout,
    )
