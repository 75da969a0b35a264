"""HTTP routes of the alerts API (DESIGN §8), under `/api/v1/sites/{site}/`.

    GET|POST         /alerts/rules                 list; create (201, the rule with its
                                                   webhook secrets, shown this once)
    GET|PATCH|DELETE /alerts/rules/{rule_id}       one rule (with its current state)
    POST             /alerts/rules/{rule_id}/test  a test notification to each channel
    GET              /alerts                       alerts, newest first: state=, rule_id=,
                                                   limit=; each with its history and
                                                   deliveries
    GET|PATCH        /alerts/{alert_id}            one alert; {"action": "acknowledge" |
                                                   "resolve" | "silence", ...}

Behind the site's bearer token or a dashboard login session (not a shared link's key).
A wrong rule is a 400 whose message starts with the field (`window: …`,
`channels[0].url: …`); an unknown rule or alert is a 404; a state that does not allow
the action (acknowledging a resolved alert) is a 409.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import HTTP_409_CONFLICT

from app.alerts.evaluate import EPOCH
from app.alerts.rules import (
    AlertmanagerChannel,
    RuleError,
    RuleSpec,
    SlackChannel,
    WebhookChannel,
    apply_patch,
    check_rule,
    decode_rule,
    masked,
)
from app.alerts.ssrf import TargetRefused, resolve_target
from app.alerts.store import AlertStore, HistoryRow, RuleRecord, iso, new_rule_id, seconds
from app.auth import require_site_token
from app.runtime import Runtime

__all__ = ["ALERT_ROUTES", "alert_json"]

SITE = "/api/v1/sites/{site:str}"
#: A shared link opens none of these: rules name their channels' targets (a Slack webhook
#: URL is itself a secret, an e-mail address is personal).
_guarded: dict[str, Any] = {
    "guards": [require_site_token],
    "tags": ["alerts"],
    "opt": {"share": False},
}
MAX_RULE_BYTES = 64 * 1024
MAX_RULES_PER_SITE = 1000
STATES = ("ok", "pending", "firing", "resolved")


class _Action(msgspec.Struct, tag_field="action", kw_only=True, forbid_unknown_fields=True):
    by: Annotated[str, msgspec.Meta(max_length=200)] = ""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Acknowledge(_Action, tag="acknowledge"):
    pass


class Resolve(_Action, tag="resolve"):
    pass


class Silence(_Action, tag="silence"):
    #: No new firing notification of the alert's rule until then (a past time lifts it).
    until: dt.datetime


_action_decoder = msgspec.json.Decoder(Acknowledge | Resolve | Silence)


def _runtime(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _checked(runtime: Runtime, site: str, spec: RuleSpec) -> RuleSpec:
    settings = runtime.settings
    try:
        spec = check_rule(spec, site=site, smtp_configured=bool(settings.smtp_host))
    except RuleError as exc:
        raise ValidationException(str(exc)) from None
    for index, channel in enumerate(spec.channels):
        if isinstance(channel, WebhookChannel | SlackChannel | AlertmanagerChannel):
            try:
                await anyio.to_thread.run_sync(
                    lambda url=channel.url: resolve_target(
                        url, allow_private=settings.alerts_allow_private, strict=False
                    )
                )
            except TargetRefused as exc:
                raise ValidationException(f"channels[{index}].url: {exc}") from None
    return spec


def _rule_json(
    record: RuleRecord, state: dict[str, Any] | None, *, show_secrets: bool = False
) -> dict[str, Any]:
    spec = msgspec.to_builtins(record.spec) if show_secrets else masked(record.spec)
    return {
        "rule_id": record.rule_id,
        "site": record.site,
        **spec,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "state": state or {"status": "ok", "alert_id": None, "since": None, "value": None},
    }


def _states_json(alerts: AlertStore, site: str) -> dict[str, dict[str, Any]]:
    return {
        rule_id: {
            "status": s.status,
            "alert_id": s.alert_id or None,
            "since": iso(s.since),
            "value": s.value if s.since > EPOCH else None,
        }
        for rule_id, s in alerts.states().items()
        if s.site == site
    }


async def _rule_or_404(runtime: Runtime, site: str, rule_id: str) -> RuleRecord:
    record = await anyio.to_thread.run_sync(runtime.alert_store.rule, site, rule_id)
    if record is None:
        raise NotFoundException(f"no rule {rule_id!r} on this site")
    return record


@get(SITE + "/alerts/rules", summary="The site's alert rules", **_guarded)
async def rules_list(request: Request[Any, Any, Any], site: str) -> Response[Any]:
    runtime = _runtime(request)

    def read() -> dict[str, Any]:
        states = _states_json(runtime.alert_store, site)
        records = runtime.alert_store.rules(site)
        return {"rules": [_rule_json(r, states.get(r.rule_id)) for r in records]}

    return Response(await anyio.to_thread.run_sync(read))


@post(
    SITE + "/alerts/rules",
    summary="Create an alert rule",
    status_code=201,
    request_max_body_size=MAX_RULE_BYTES,
    **_guarded,
)
async def rules_create(request: Request[Any, Any, Any], site: str) -> Response[Any]:
    runtime = _runtime(request)
    try:
        spec = decode_rule(await request.body())
    except RuleError as exc:
        raise ValidationException(str(exc)) from None
    spec = await _checked(runtime, site, spec)
    existing = await anyio.to_thread.run_sync(runtime.alert_store.rules, site)
    if len(existing) >= MAX_RULES_PER_SITE:
        raise ValidationException(f"rules: a site has at most {MAX_RULES_PER_SITE} rules")
    now = dt.datetime.now(dt.UTC)
    record = RuleRecord(rule_id=new_rule_id(), site=site, spec=spec, created_at=now, updated_at=now)
    await anyio.to_thread.run_sync(runtime.alert_store.save_rule, record)
    return Response(
        {"rule_id": record.rule_id, "rule": _rule_json(record, None, show_secrets=True)},
        status_code=201,
    )


@get(SITE + "/alerts/rules/{rule_id:str}", summary="One alert rule", **_guarded)
async def rule_get(request: Request[Any, Any, Any], site: str, rule_id: str) -> Response[Any]:
    runtime = _runtime(request)
    record = await _rule_or_404(runtime, site, rule_id)
    states = await anyio.to_thread.run_sync(_states_json, runtime.alert_store, site)
    return Response(_rule_json(record, states.get(rule_id)))


@patch(
    SITE + "/alerts/rules/{rule_id:str}",
    summary="Change an alert rule (the fields given)",
    request_max_body_size=MAX_RULE_BYTES,
    **_guarded,
)
async def rule_patch(request: Request[Any, Any, Any], site: str, rule_id: str) -> Response[Any]:
    runtime = _runtime(request)
    record = await _rule_or_404(runtime, site, rule_id)
    try:
        spec = apply_patch(record.spec, await request.body())
    except RuleError as exc:
        raise ValidationException(str(exc)) from None
    spec = await _checked(runtime, site, spec)
    updated = msgspec.structs.replace(record, spec=spec, updated_at=dt.datetime.now(dt.UTC))
    await anyio.to_thread.run_sync(runtime.alert_store.save_rule, updated)
    return Response(_rule_json(updated, None, show_secrets=True))


@delete(SITE + "/alerts/rules/{rule_id:str}", summary="Delete an alert rule", **_guarded)
async def rule_delete(request: Request[Any, Any, Any], site: str, rule_id: str) -> None:
    runtime = _runtime(request)
    record = await _rule_or_404(runtime, site, rule_id)
    await anyio.to_thread.run_sync(lambda: runtime.alert_store.save_rule(record, deleted=True))


@post(
    SITE + "/alerts/rules/{rule_id:str}/test",
    summary="Send a test notification to each of the rule's channels",
    status_code=200,
    **_guarded,
)
async def rule_test(request: Request[Any, Any, Any], site: str, rule_id: str) -> Response[Any]:
    runtime = _runtime(request)
    record = await _rule_or_404(runtime, site, rule_id)
    if not record.spec.channels:
        raise ValidationException("channels: the rule has no channel to test")
    rows = await runtime.alerts.test(record)
    return Response(
        {
            "deliveries": [
                {
                    "delivery_id": row.delivery_id,
                    "channel": row.channel_type,
                    "target": row.target,
                    "status": row.status,
                    "attempts": row.attempts,
                    "last_error": row.last_error or None,
                }
                for row in rows
            ]
        }
    )


# -- alerts ----------------------------------------------------------------------------


def _time(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return iso(value)
    return iso(dt.datetime.fromtimestamp(float(value), dt.UTC)) if value else None


def alert_json(
    row: dict[str, Any], history: list[HistoryRow], deliveries: list[dict[str, Any]]
) -> dict[str, Any]:
    acks = [h for h in history if h.kind == "acknowledge"]
    ack = acks[-1] if acks else None
    return {
        "alert_id": row["alert_id"],
        "rule_id": row["rule_id"],
        "rule": row["rule_name"],
        "metric": row["metric"],
        "severity": row["severity"],
        "state": row["status"],
        "value": row["value"],
        "threshold": row["threshold"],
        "opened_at": _time(row["opened_at"]),
        "started_at": _time(row["started_at"]),
        "resolved_at": _time(row["resolved_at"]),
        "notified": bool(row["notified"]),
        "detail": msgspec.json.decode(row["detail"] or "{}"),
        "acknowledged": None
        if ack is None
        else {"by": ack.actor or None, "at": _time(ack.at), "note": ack.note or None},
        "history": [
            {
                "at": _time(h.at),
                "kind": h.kind,
                "from": h.from_status or None,
                "to": h.to_status or None,
                "value": h.value if h.kind == "transition" else None,
                "notified": bool(h.notified) if h.kind == "transition" else None,
                "reason": h.reason or None,
                "by": h.actor or None,
                "note": h.note or None,
            }
            for h in history
        ],
        "deliveries": [
            {
                "delivery_id": d["delivery_id"],
                "kind": d["kind"],
                "channel": d["channel_type"],
                "target": d["target"],
                "status": d["status"],
                "attempts": d["attempts"],
                "last_error": d["last_error"] or None,
                "updated_at": _time(d["updated_at"]),
                "next_attempt_at": _time(d["next_attempt_at"])
                if d["status"] == "pending"
                else None,
            }
            for d in sorted(deliveries, key=lambda d: d["delivery_id"])
        ],
    }


def _alerts(
    alerts: AlertStore,
    site: str,
    *,
    alert_ids: list[str] | None = None,
    rule_id: str | None = None,
    states: tuple[str, ...] = (),
    limit: int = 50,
) -> list[dict[str, Any]]:
    rows = alerts.alert_rows(site, alert_ids=alert_ids, rule_id=rule_id)
    if states:
        rows = [r for r in rows if r["status"] in states]
    rows.sort(key=lambda r: (r["opened_at"], r["alert_id"]), reverse=True)
    rows = rows[:limit]
    ids = [r["alert_id"] for r in rows]
    history: dict[str, list[HistoryRow]] = {}
    for h in alerts.history(site, ids):
        history.setdefault(h.alert_id, []).append(h)
    deliveries: dict[str, list[dict[str, Any]]] = {}
    for d in alerts.deliveries(site, ids):
        deliveries.setdefault(d["alert_id"], []).append(d)
    return [
        alert_json(r, history.get(r["alert_id"], []), deliveries.get(r["alert_id"], []))
        for r in rows
    ]


@get(SITE + "/alerts", summary="Alerts and their history, newest first", **_guarded)
async def alerts_list(request: Request[Any, Any, Any], site: str) -> Response[Any]:
    runtime = _runtime(request)
    params = request.query_params
    unknown = sorted(set(params) - {"state", "rule_id", "limit"})
    if unknown:
        raise ValidationException(f"{unknown[0]}: unknown parameter; use state, rule_id, limit")
    states = tuple(s for s in ",".join(params.getall("state", [])).split(",") if s)
    if "active" in states:
        states = (*states, "pending", "firing")
    for name in states:
        if name not in (*STATES, "active"):
            raise ValidationException(f"state: {name!r} is not one of {', '.join(STATES)}, active")
    rule_id = params.get("rule_id") or ""
    limit_text = params.get("limit") or "50"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise ValidationException("limit: a whole number from 1 to 1000")
    limit = int(limit_text)
    found = await anyio.to_thread.run_sync(
        lambda: _alerts(
            runtime.alert_store, site, rule_id=rule_id or None, states=states, limit=limit
        )
    )
    return Response({"alerts": found})


async def _alert_or_404(runtime: Runtime, site: str, alert_id: str) -> dict[str, Any]:
    found = await anyio.to_thread.run_sync(
        lambda: _alerts(runtime.alert_store, site, alert_ids=[alert_id], limit=1)
    )
    if not found:
        raise NotFoundException(f"no alert {alert_id!r} on this site")
    return found[0]


@get(SITE + "/alerts/{alert_id:str}", summary="One alert with its history", **_guarded)
async def alert_get(request: Request[Any, Any, Any], site: str, alert_id: str) -> Response[Any]:
    return Response(await _alert_or_404(_runtime(request), site, alert_id))


@patch(
    SITE + "/alerts/{alert_id:str}",
    summary="Acknowledge, resolve or silence an alert",
    request_max_body_size=MAX_RULE_BYTES,
    **_guarded,
)
async def alert_patch(request: Request[Any, Any, Any], site: str, alert_id: str) -> Response[Any]:
    runtime = _runtime(request)
    try:
        action = _action_decoder.decode(await request.body())
    except msgspec.ValidationError as exc:
        raise ValidationException(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(f"the body is not JSON: {exc}") from None
    alert = await _alert_or_404(runtime, site, alert_id)
    now = dt.datetime.now(dt.UTC)
    status = 200
    match action:
        case Acknowledge():
            if alert["state"] not in ("pending", "firing"):
                raise ClientException(
                    f"state: the alert is {alert['state']}; only a pending or firing alert "
                    "is acknowledged",
                    status_code=HTTP_409_CONFLICT,
                )
            row = HistoryRow(
                site_id=site,
                rule_id=alert["rule_id"],
                alert_id=alert_id,
                at=seconds(now),
                kind="acknowledge",
                actor=action.by,
                note=action.note,
            )
            await anyio.to_thread.run_sync(runtime.alert_store.add_history, row)
        case Resolve():
            if alert["state"] not in ("pending", "firing"):
                raise ClientException(
                    f"state: the alert is already {alert['state']}",
                    status_code=HTTP_409_CONFLICT,
                )
            record = await _rule_or_404(runtime, site, alert["rule_id"])
            applied = await runtime.alerts.resolve(record, alert_id, action.by, action.note)
            status = 200 if applied else 202  # 202: the evaluating process applies it
        case Silence():
            until = action.until
            if until.tzinfo is None:
                raise ValidationException("until: give a time zone (e.g. Z)")
            if until - now > dt.timedelta(days=90):
                raise ValidationException("until: at most 90 days ahead")

            def silence() -> None:
                runtime.alert_store.set_silence(
                    site, alert["rule_id"], until, action.by, action.note
                )
                runtime.alert_store.add_history(
                    HistoryRow(
                        site_id=site,
                        rule_id=alert["rule_id"],
                        alert_id=alert_id,
                        at=seconds(now),
                        kind="silence",
                        actor=action.by,
                        note=f"until {iso(until)}" + (f": {action.note}" if action.note else ""),
                    )
                )

            await anyio.to_thread.run_sync(silence)
    return Response(await _alert_or_404(runtime, site, alert_id), status_code=status)


ALERT_ROUTES = [
    rules_list,
    rules_create,
    rule_get,
    rule_patch,
    rule_delete,
    rule_test,
    alerts_list,
    alert_get,
    alert_patch,
]
