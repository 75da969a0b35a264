"""The alert state machine with the clock as an argument: ok → pending → firing →
resolved, `for`, `min_samples`, cooldown, silence, resolve by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from app.alerts.evaluate import (
    Reading,
    RuleState,
    Transition,
    alert_id_for,
    breached,
    resolve_by_hand,
    step,
)
from app.alerts.rules import Anomaly, RuleSpec

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def rule(**fields: Any) -> RuleSpec:
    base: dict[str, Any] = {"name": "r", "metric": "error_rate", "window": "5m", "op": "gt",
                            "threshold": 0.1}  # fmt: skip
    return msgspec.convert({**base, **fields}, RuleSpec)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def run(
    spec: RuleSpec,
    values: list[float | None],
    *,
    every: float = 60,
    samples: int | None = None,
    silenced_until: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    state: RuleState | None = None,
) -> tuple[RuleState, list[Transition]]:
    state = state or RuleState(rule_id="r1", site="s")
    changes = []
    for i, value in enumerate(values):
        reading = Reading(value=value, samples=samples)
        state, change = step(spec, state, reading, at(i * every), silenced_until=silenced_until)
        if change is not None:
            changes.append(change)
    return state, changes


def path(changes: list[Transition]) -> list[tuple[str, str, bool]]:
    return [(c.from_status, c.to_status, c.notify) for c in changes]


def test_fires_at_once_without_for_and_resolves() -> None:
    state, changes = run(rule(), [0.0, 0.5, 0.6, 0.0, 0.0])
    assert path(changes) == [("ok", "firing", True), ("firing", "resolved", True)]
    assert changes[0].at == at(60) and changes[0].value == 0.5
    assert changes[0].alert_id == changes[1].alert_id == alert_id_for("r1", 1)
    assert state.status == "resolved" and state.seq == 2
    assert [c.transition_id for c in changes] == ["r1:1", "r1:2"]


def test_for_holds_back_a_blip_then_fires_on_a_lasting_breach() -> None:
    spec = rule(**{"for": "3m"})
    _, changes = run(spec, [0.5, 0.0, 0.0])
    assert path(changes) == [("ok", "pending", False), ("pending", "ok", False)]
    state, changes = run(spec, [0.5, 0.5, 0.5, 0.5, 0.0])
    assert path(changes) == [
        ("ok", "pending", False),
        ("pending", "firing", True),
        ("firing", "resolved", True),
    ]
    assert changes[1].at == at(180)  # 3 minutes after it went pending
    assert state.started_at == at(180) and state.opened_at == at(0)


def test_cooldown_suppresses_a_repeat_but_not_after_it_ran_out() -> None:
    spec = rule(cooldown="10m")
    _, changes = run(spec, [0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5])
    assert path(changes) == [
        ("ok", "firing", True),
        ("firing", "resolved", True),
        ("resolved", "firing", False),  # 2 minutes after the first notice
        ("firing", "resolved", False),  # its firing was not notified
        ("resolved", "firing", True),  # 11 minutes after the first notice
    ]
    assert changes[2].reason == "cooldown"
    assert len({c.alert_id for c in changes}) == 3


def test_silence_holds_back_firing_notices_until_it_ends() -> None:
    _, changes = run(rule(), [0.5, 0.0, 0.5], silenced_until=at(100))
    assert path(changes) == [
        ("ok", "firing", False),
        ("firing", "resolved", False),
        ("resolved", "firing", True),
    ]
    assert changes[0].reason == "silenced"


def test_too_few_samples_or_no_value_decide_nothing() -> None:
    spec = rule(min_samples=20)
    state, changes = run(spec, [0.5, 0.5], samples=3)
    assert changes == [] and state.status == "ok"
    firing, _ = run(spec, [0.5], samples=50)
    held, changes = run(spec, [None, 0.0], samples=3, state=firing)
    assert changes == [] and held.status == "firing"


def test_thresholds_compare_as_written() -> None:
    for op, value, expected in [("gt", 0.1, False), ("gte", 0.1, True), ("lt", 0.05, True),
                                ("lte", 0.2, False)]:  # fmt: skip
        assert breached(rule(op=op), Reading(value=value)) is expected


def test_anomaly_direction() -> None:
    spec = rule(op=None, threshold=None, window="1h",
                anomaly=msgspec.to_builtins(Anomaly(z=3, direction="down")))  # fmt: skip
    assert breached(spec, Reading(value=5, z=-4)) is True
    assert breached(spec, Reading(value=50, z=4)) is False
    assert breached(spec, Reading(value=5, z=None)) is None


def test_resolve_by_hand() -> None:
    firing, _ = run(rule(), [0.5])
    resolved, change = resolve_by_hand(firing, at(90), "ana")
    assert change is not None and (change.to_status, change.notify, change.actor) == (
        "resolved", True, "ana"
    )  # fmt: skip
    # Still breached at the next evaluation: a new alert opens.
    _, change = step(rule(), resolved, Reading(value=0.5), at(120))
    assert change is not None and change.to_status == "firing"
    assert change.alert_id != firing.alert_id
    assert resolve_by_hand(RuleState(rule_id="r1", site="s"), at(0), "ana")[1] is None
