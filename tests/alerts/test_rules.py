"""Rule validation: every bad rule is refused with a message that names the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.alerts.rules import (
    SECRET_MASK,
    RuleError,
    WebhookChannel,
    apply_patch,
    check_rule,
    decode_rule,
    masked,
    parse_duration,
)

GOOD: dict[str, Any] = {
    "name": "checkout errors",
    "metric": "error_rate",
    "window": "5m",
    "op": "gt",
    "threshold": 0.05,
    "for": "2m",
    "min_samples": 20,
    "severity": "high",
    "cooldown": "30m",
    "filters": {"route": "/checkout", "device": ["mobile", "tablet"]},
    "channels": [
        {"type": "webhook", "url": "https://hooks.example.com/beacon"},
        {"type": "slack", "url": "https://hooks.slack.example/T000/B000"},
        {"type": "alertmanager", "url": "http://alertmanager.example:9093"},
        {"type": "email", "to": ["oncall@example.com"]},
    ],
}


def _check(rule: dict[str, Any], *, smtp: bool = True) -> Any:
    return check_rule(decode_rule(json.dumps(rule).encode()), site="s_x", smtp_configured=smtp)


def test_a_good_rule_is_taken_and_a_webhook_secret_made() -> None:
    spec = _check(GOOD)
    assert spec.window_seconds == 300 and spec.for_seconds == 120
    assert spec.cooldown_seconds == 1800
    webhook = spec.channels[0]
    assert isinstance(webhook, WebhookChannel) and webhook.secret.startswith("whsec_")
    assert masked(spec)["channels"][0]["secret"] == SECRET_MASK
    assert masked(spec)["for"] == "2m"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric": "error_count"}, "$.metric"),
        ({"window": 5}, "$.window"),
        ({"window": "5 minutes"}, "window:"),
        ({"window": "5s"}, "window:"),
        ({"window": "40d"}, "window:"),
        ({"for": "8d"}, "for:"),
        ({"cooldown": "1y"}, "cooldown:"),
        ({"op": "above"}, "$.op"),
        ({"op": None}, "op:"),
        ({"threshold": None}, "threshold:"),
        ({"severity": "urgent"}, "$.severity"),
        ({"min_samples": -1}, "$.min_samples"),
        ({"name": ""}, "$.name"),
        ({"colour": "red"}, "colour"),
        ({"vital": "LCP"}, "vital:"),
        ({"filters": {"planet": "mars"}}, "filters.planet"),
        ({"filters": {"device": "x" * 600}}, "filters.device"),
        ({"channels": [{"type": "pager", "url": "x"}]}, "$.channels[0]"),
        ({"channels": [{"type": "webhook"}]}, "$.channels[0]"),
        ({"channels": [{"type": "webhook", "url": "ftp://x.example/a"}]}, "channels[0].url"),
        ({"channels": [{"type": "email", "to": ["not-an-address"]}]}, "channels[0].to[0]"),
        ({"channels": [{"type": "email", "to": []}]}, "$.channels[0].to"),
        (
            {"channels": [{"type": "webhook", "url": "https://a.example", "secret": SECRET_MASK}]},
            "channels[0].secret",
        ),
    ],
)
def test_a_bad_rule_names_the_field(change: dict[str, Any], field: str) -> None:
    rule = {**GOOD, **change}
    rule = {k: v for k, v in rule.items() if v is not None}
    with pytest.raises(RuleError) as caught:
        _check(rule)
    assert field in str(caught.value)


def test_vital_metrics_need_a_vital_and_issue_metrics_take_no_filters() -> None:
    with pytest.raises(RuleError, match=r"^vital: vital_p75 needs"):
        _check({**GOOD, "metric": "vital_p75", "threshold": 2500})
    assert _check({**GOOD, "metric": "vital_p75", "vital": "LCP", "threshold": 2500}).vital == "LCP"
    with pytest.raises(RuleError, match=r"^filters: issue_new is not filtered"):
        _check({**GOOD, "metric": "issue_new", "threshold": 0})
    issue = {k: v for k, v in GOOD.items() if k != "filters"}
    assert _check({**issue, "metric": "issue_new", "op": "gte", "threshold": 1})


def test_anomaly_rules() -> None:
    anomaly = {k: v for k, v in GOOD.items() if k not in ("op", "threshold", "filters")}
    anomaly |= {"metric": "pageviews", "window": "1h", "anomaly": {"z": 3, "direction": "down"}}
    spec = _check(anomaly)
    assert spec.anomaly is not None and spec.anomaly.weeks == 8
    with pytest.raises(RuleError, match=r"^anomaly: give either"):
        _check({**anomaly, "op": "gt", "threshold": 1})
    with pytest.raises(RuleError, match=r"^window: anomaly rules compare whole hours"):
        _check({**anomaly, "window": "5m"})
    with pytest.raises(RuleError, match=r"^anomaly: only for"):
        _check({**anomaly, "metric": "errors"})
    with pytest.raises(RuleError, match=r"\$\.anomaly\.direction"):
        _check({**anomaly, "anomaly": {"direction": "sideways"}})
    with pytest.raises(RuleError, match=r"\$\.anomaly\.weeks"):
        _check({**anomaly, "anomaly": {"weeks": 1}})


def test_email_needs_an_smtp_server() -> None:
    with pytest.raises(RuleError, match=r"^channels\[3\]: e-mail needs an SMTP server"):
        _check(GOOD, smtp=False)


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(RuleError, match="not a JSON rule"):
        decode_rule(b"{nope")
    with pytest.raises(RuleError, match="Expected `object`"):
        decode_rule(b"[]")


def test_a_patch_merges_fields_and_keeps_a_masked_secret() -> None:
    spec = _check(GOOD)
    secret = spec.channels[0].secret
    shown = masked(spec)
    patched = apply_patch(
        spec, json.dumps({"threshold": 0.1, "channels": shown["channels"]}).encode()
    )
    assert patched.threshold == 0.1 and patched.name == GOOD["name"]
    assert patched.channels[0].secret == secret
    # null removes a field (back to its default); a wrong value still names its field
    assert apply_patch(spec, b'{"filters": null}').filters == {}
    with pytest.raises(RuleError, match=r"\$\.threshold"):
        apply_patch(spec, b'{"threshold": "high"}')
    with pytest.raises(RuleError, match="JSON object"):
        apply_patch(spec, b"[1]")


def test_durations() -> None:
    assert parse_duration("x", "90s") == 90
    assert parse_duration("x", "2d") == 172800
    with pytest.raises(RuleError, match=r"^x: '1.5h' is not a duration"):
        parse_duration("x", "1.5h")
