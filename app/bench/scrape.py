"""Reading a Beacon process's `/metrics` (Prometheus text) into plain numbers."""

from __future__ import annotations

import re

import httpx

__all__ = ["scrape"]

_LINE = re.compile(r"^([a-z_]+)(?:\{([^}]*)\})? ([-+\d.eE]+|NaN)$", re.M)


def scrape(base: str, timeout: float = 10) -> dict[str, float]:
    """name (or `name{labels}`) → value, for every sample of `base`/metrics."""
    text = httpx.get(base + "/metrics", timeout=timeout).text
    values: dict[str, float] = {}
    for name, labels, value in _LINE.findall(text):
        values[f"{name}{{{labels}}}" if labels else name] = float(value)
    return values


def steps(values: dict[str, float]) -> dict[str, float]:
    """Seconds per pipeline step (`beacon_pipeline_step_seconds_total{step=…}`)."""
    found = {}
    for key, value in values.items():
        match = re.match(r'beacon_pipeline_step_seconds_total\{step="(\w+)"\}', key)
        if match:
            found[match[1]] = value
    return found
