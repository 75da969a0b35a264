"""Trends (Theil-Sen slope, Mann-Kendall test from SciPy) and the SSRF guard."""

from __future__ import annotations

import random

import pytest

from app.alerts.ssrf import TargetRefused, forbidden_address, resolve_target
from app.alerts.trends import trend_of


def _labels(n: int) -> list[str]:
    return [f"d{i}" for i in range(n)]


def test_a_rising_series_is_increasing_with_its_slope_inside_the_interval() -> None:
    rng = random.Random(1)
    values = [100 + 5 * i + rng.gauss(0, 4) for i in range(30)]
    result = trend_of(values, _labels(30), step_days=1.0, metric="pageviews")
    assert result["direction"] == "increasing"
    low, high = result["slope_ci"]
    assert low < 5 < high and low < result["slope_per_day"] < high
    assert result["mann_kendall"]["p_value"] < 0.001
    assert result["anomalies"] == []


def test_hourly_slopes_are_per_day() -> None:
    values = [1000 - 2 * i for i in range(48)]  # -2 per hour
    result = trend_of(values, _labels(48), step_days=1 / 24, metric="pageviews")
    assert result["direction"] == "decreasing"
    assert result["slope_per_day"] == pytest.approx(-48)


def test_flat_noise_is_stable_wild_noise_volatile_and_a_spike_an_anomaly() -> None:
    rng = random.Random(2)
    flat = [500 + rng.gauss(0, 10) for _ in range(30)]
    assert trend_of(flat, _labels(30), step_days=1, metric="pageviews")["direction"] == "stable"
    wild = [500 * rng.choice([0.3, 1.0, 1.8]) for _ in range(30)]
    assert trend_of(wild, _labels(30), step_days=1, metric="pageviews")["direction"] == "volatile"
    flat[17] = 1500
    anomalies = trend_of(flat, _labels(30), step_days=1, metric="pageviews")["anomalies"]
    assert [a["date"] for a in anomalies] == ["d17"] and anomalies[0]["z"] > 3.5


def test_a_constant_series_and_too_few_points() -> None:
    result = trend_of([3.0] * 10, _labels(10), step_days=1, metric="pageviews")
    assert result["direction"] == "stable" and result["slope_per_day"] == 0
    with pytest.raises(ValueError, match="at least 5 points"):
        trend_of([1.0, 2.0], _labels(2), step_days=1, metric="pageviews")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "::1",
     "fd00::1", "224.0.0.1", "0.0.0.0", "::ffff:127.0.0.1", "100.64.0.1"],
)  # fmt: skip
def test_private_and_special_addresses_are_forbidden(address: str) -> None:
    assert forbidden_address(address)


def test_public_addresses_pass_and_loopback_names_are_refused() -> None:
    assert not forbidden_address("93.184.216.34")
    assert not forbidden_address("2606:2800:220:1::1")
    assert resolve_target("https://93.184.216.34/hook", allow_private=False) == "93.184.216.34"
    with pytest.raises(TargetRefused, match="loopback, private or reserved"):
        resolve_target("http://localhost:9093/", allow_private=False)
    with pytest.raises(TargetRefused, match=r"169\.254\.169\.254"):
        resolve_target("http://169.254.169.254/latest/meta-data", allow_private=False)
    assert resolve_target("http://127.0.0.1:9/", allow_private=True) == "127.0.0.1"


def test_a_name_that_does_not_resolve() -> None:
    url = "https://no-such-host.invalid/hook"
    assert resolve_target(url, allow_private=False, strict=False) is None
    with pytest.raises(TargetRefused, match="does not resolve"):
        resolve_target(url, allow_private=False)


def test_a_delivery_to_a_private_address_is_refused_before_connecting() -> None:
    import asyncio

    import httpx

    from app.alerts.http import DeliveryError, post_json

    async def run() -> str:
        async with httpx.AsyncClient() as client:
            try:
                await post_json(client, "http://127.0.0.1:9/hook", b"{}", allow_private=False,
                                seconds=2)  # fmt: skip
            except DeliveryError as exc:
                return str(exc)
        return ""

    assert asyncio.run(run()).startswith("refused: '127.0.0.1' is or resolves to 127.0.0.1")
