"""The alert state machine: pure functions of a rule, its state, a reading and the clock.

States of a rule: `ok → pending → firing → resolved` (and `pending → ok` when the
condition stops holding before `for` has passed: a blip). Each change is a `Transition`
that the evaluator stores with the value seen and, for `→ firing` and `→ resolved`,
notifies — unless:
- the rule is silenced (`silenced_until` in the future): a new firing is not notified;
- the rule notified a firing less than `cooldown` ago: a repeat is not notified;
- a resolve of an alert whose firing was not notified is not notified either.
A reading without a value, or with fewer samples than `min_samples`, decides nothing:
the state is held (no p75 alert on three samples, and no resolve for lack of data).

`seq` counts a rule's changes; an alert's id is derived from (rule, seq at which it
opened), and a transition's id from (rule, its seq), so two evaluators that compute the
same change name it the same way (scale mode claims each seq once, app/alerts/lease.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Any

import msgspec

from app.alerts.rules import RuleSpec

__all__ = [
    "ACTIVE",
    "EPOCH",
    "Reading",
    "RuleState",
    "Transition",
    "alert_id_for",
    "breached",
    "resolve_by_hand",
    "step",
]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ACTIVE = frozenset({"pending", "firing"})


class Reading(msgspec.Struct, kw_only=True):
    """What a metric was at one evaluation. `value` None: not known (no data, an error)."""

    value: float | None
    samples: int | None = None
    #: Robust z-score of `value` against its baseline (anomaly rules only).
    z: float | None = None
    detail: dict[str, Any] = {}
    error: str = ""


class RuleState(msgspec.Struct, kw_only=True):
    rule_id: str
    site: str
    seq: int = 0
    status: str = "ok"
    alert_id: str = ""
    #: When the current status began.
    since: dt.datetime = EPOCH
    #: When the current alert opened (went pending or firing from ok).
    opened_at: dt.datetime = EPOCH
    #: When the current alert started firing.
    started_at: dt.datetime = EPOCH
    value: float = 0.0
    #: The current alert's firing was notified.
    notified: bool = False
    #: The last firing notification of this rule (for the cooldown).
    last_notified_at: dt.datetime = EPOCH


class Transition(msgspec.Struct, kw_only=True, frozen=True):
    transition_id: str
    rule_id: str
    site: str
    alert_id: str
    seq: int
    from_status: str
    to_status: str
    at: dt.datetime
    value: float
    notify: bool
    #: Why a notification was held back, or "".
    reason: str = ""
    actor: str = ""


def alert_id_for(rule_id: str, seq: int) -> str:
    return hashlib.sha256(f"{rule_id}:{seq}".encode()).hexdigest()[:16]


def _compare(op: str, value: float, threshold: float) -> bool:
    match op:
        case "gt":
            return value > threshold
        case "gte":
            return value >= threshold
        case "lt":
            return value < threshold
        case _:
            return value <= threshold


def breached(spec: RuleSpec, reading: Reading) -> bool | None:
    """Whether the condition holds; None when the reading cannot tell."""
    if reading.value is None or (isinstance(reading.value, float) and math.isnan(reading.value)):
        return None
    if reading.samples is not None and reading.samples < spec.min_samples:
        return None
    if spec.anomaly is not None:
        if reading.z is None:
            return None
        direction = spec.anomaly.direction
        if direction == "up":
            return reading.z >= spec.anomaly.z
        if direction == "down":
            return reading.z <= -spec.anomaly.z
        return abs(reading.z) >= spec.anomaly.z
    assert spec.op is not None and spec.threshold is not None
    return _compare(spec.op, reading.value, spec.threshold)


def _move(
    state: RuleState,
    to_status: str,
    now: dt.datetime,
    value: float,
    *,
    notify: bool = False,
    reason: str = "",
    actor: str = "",
) -> tuple[RuleState, Transition]:
    seq = state.seq + 1
    opening = state.status not in ACTIVE and to_status in ACTIVE
    alert_id = alert_id_for(state.rule_id, seq) if opening else state.alert_id
    new = msgspec.structs.replace(
        state, seq=seq, status=to_status, alert_id=alert_id, since=now, value=value
    )
    if opening:
        new.notified = False
        new.started_at = EPOCH
        new.opened_at = now
    if to_status == "firing":
        new.started_at = now
        new.notified = notify
        if notify:
            new.last_notified_at = now
    transition = Transition(
        transition_id=f"{state.rule_id}:{seq}",
        rule_id=state.rule_id,
        site=state.site,
        alert_id=alert_id,
        seq=seq,
        from_status=state.status,
        to_status=to_status,
        at=now,
        value=value,
        notify=notify,
        reason=reason,
        actor=actor,
    )
    return new, transition


def _firing_notice(
    spec: RuleSpec, state: RuleState, now: dt.datetime, silenced_until: dt.datetime
) -> tuple[bool, str]:
    if now < silenced_until:
        return False, "silenced"
    cooldown = dt.timedelta(seconds=spec.cooldown_seconds)
    if state.last_notified_at > EPOCH and now - state.last_notified_at < cooldown:
        return False, "cooldown"
    return True, ""


def step(
    spec: RuleSpec,
    state: RuleState,
    reading: Reading,
    now: dt.datetime,
    *,
    silenced_until: dt.datetime = EPOCH,
) -> tuple[RuleState, Transition | None]:
    """The rule's next state after one evaluation, and the change if there is one."""
    verdict = breached(spec, reading)
    if verdict is None:
        return state, None
    value = float(reading.value) if reading.value is not None else 0.0
    hold = dt.timedelta(seconds=spec.for_seconds)
    match state.status, verdict:
        case (("ok" | "resolved"), True):
            if hold:
                return _move(state, "pending", now, value)
            notify, reason = _firing_notice(spec, state, now, silenced_until)
            return _move(state, "firing", now, value, notify=notify, reason=reason)
        case "pending", True:
            if now - state.since >= hold:
                notify, reason = _firing_notice(spec, state, now, silenced_until)
                return _move(state, "firing", now, value, notify=notify, reason=reason)
            return msgspec.structs.replace(state, value=value), None
        case "pending", False:
            return _move(state, "ok", now, value)
        case "firing", False:
            reason = "" if state.notified else "its firing was not notified"
            return _move(state, "resolved", now, value, notify=state.notified, reason=reason)
        case _:
            return msgspec.structs.replace(state, value=value), None


def resolve_by_hand(
    state: RuleState, now: dt.datetime, actor: str
) -> tuple[RuleState, Transition | None]:
    """A person resolves the rule's current alert: firing → resolved (notified when its
    firing was), pending → ok. The next evaluation opens a new alert if the condition
    still holds."""
    if state.status == "firing":
        reason = "" if state.notified else "its firing was not notified"
        return _move(
            state, "resolved", now, state.value, notify=state.notified, reason=reason, actor=actor
        )
    if state.status == "pending":
        return _move(state, "ok", now, state.value, actor=actor)
    return state, None
