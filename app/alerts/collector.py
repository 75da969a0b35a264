"""Prometheus metrics of the alert evaluator and its notifier (`/metrics`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.alerts.service import AlertService

__all__ = ["AlertCollector"]


class AlertCollector(Collector):
    def __init__(self, service: AlertService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        service = self._service
        report = service.last_round
        yield GaugeMetricFamily(
            "beacon_alerts_leader",
            "This process evaluates the alert rules (scale mode: holds the lease)",
            value=int(service.leader and service.started),
        )
        yield CounterMetricFamily(
            "beacon_alerts_rounds", "Evaluation rounds run", value=service.rounds_done
        )
        yield GaugeMetricFamily(
            "beacon_alerts_round_seconds",
            "Duration of the last evaluation round",
            value=report.seconds if report else 0.0,
        )
        yield GaugeMetricFamily(
            "beacon_alerts_rules",
            "Enabled rules in the last round",
            value=report.rules if report else 0,
        )
        yield CounterMetricFamily(
            "beacon_alerts_transitions", "Alert state changes", value=service.counts["transitions"]
        )
        yield CounterMetricFamily(
            "beacon_alerts_lease_acquired",
            "Times this process took the evaluator lease",
            value=service.counts["lease_acquired"],
        )
        notifier = service.notifier
        deliveries = CounterMetricFamily(
            "beacon_alerts_deliveries", "Notification attempts by outcome", labels=["outcome"]
        )
        for outcome in ("attempts", "sent", "failed", "refreshed", "refresh_failed"):
            deliveries.add_metric([outcome], notifier.counts[outcome])
        yield deliveries
        yield GaugeMetricFamily(
            "beacon_alerts_deliveries_waiting",
            "Notifications queued or waiting for a retry",
            value=notifier.waiting,
        )
