"""The Grafana dashboards of deploy/grafana/: every panel's query runs against a real store.

A Beacon server is filled by `beacon demo` (plus one failed request, so that the failed-
requests panel has a row), its `/metrics` read, and the server stopped. Each ClickHouse
panel's SQL has the plugin's macros expanded as grafana-clickhouse-datasource v4 does
(`pkg/macros/macros.go`: `$__timeFilter(c)` is `c >= toDateTime(from) AND c <=
toDateTime(to)`, `$__timeInterval(c)` is `toStartOfInterval(toDateTime(c), INTERVAL n
second)`, …) and the dashboard variables substituted, then runs against the stopped
server's store in another process; it must return rows of the panel's shape. Every
metric a Prometheus panel uses must exist in the live `/metrics`, with the labels it
groups by.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import REPO, BeaconProcess, Site
from tests.web.conftest import api, wait_for

GRAFANA = REPO / "deploy" / "grafana"
CLICKHOUSE_UID = "beacon-clickhouse"
PROMETHEUS_UID = "beacon-prometheus"
_MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")


def expand(
    sql: str, start: dt.datetime, end: dt.datetime, interval_s: int, variables: dict[str, str]
) -> str:
    """The SQL as the ClickHouse plugin sends it: Grafana's variables, then its macros."""
    for name, value in variables.items():
        sql = sql.replace("${" + name + "}", value).replace("$" + name, value)
    first, last = int(start.timestamp()), int(end.timestamp())

    def macro(match: re.Match[str]) -> str:
        name, args = match[1], [a.strip() for a in (match[2] or "").split(",") if a.strip()]
        if name == "timeFilter":
            (column,) = args
            return f"{column} >= toDateTime({first}) AND {column} <= toDateTime({last})"
        if name == "timeFilter_ms":
            (column,) = args
            return (
                f"{column} >= fromUnixTimestamp64Milli({first * 1000}) AND "
                f"{column} <= fromUnixTimestamp64Milli({last * 1000})"
            )
        if name == "timeInterval":
            (column,) = args
            return f"toStartOfInterval(toDateTime({column}), INTERVAL {max(interval_s, 1)} second)"
        if name == "interval_s":
            return str(max(interval_s, 1))
        if name == "fromTime":
            return f"toDateTime({first})"
        if name == "toTime":
            return f"toDateTime({last})"
        raise AssertionError(f"a macro this test does not expand: $__{name}")

    return _MACRO.sub(macro, sql)


def test_macro_expansion_is_the_plugins() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    sql = "SELECT $__timeInterval(ts) AS t FROM ${db}.e WHERE $__timeFilter(ts) AND x = '${site}'"
    assert expand(sql, start, end, 300, {"db": "beacon", "site": "s_1"}) == (
        "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 300 second) AS t FROM beacon.e "
        "WHERE ts >= toDateTime(1767225600) AND ts <= toDateTime(1767312000) AND x = 's_1'"
    )
    with pytest.raises(AssertionError, match="conditionalAll"):
        expand("$__conditionalAll(a, $b)", start, end, 1, {})


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text())
        for path in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p.get("targets")]


class Filled:
    def __init__(self, data_dir: Path, site: Site, metrics: str) -> None:
        self.data_dir = data_dir
        self.site = site
        self.metrics = metrics


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    data_dir = tmp_path_factory.mktemp("grafana") / "data"
    server = BeaconProcess(data_dir).start()
    try:
        assert server.send(b"{not json").status_code == 400  # a rejection, for its metric
        done = server.cli(
            "demo", "--url", server.base_url, "--sessions", "300", "--hours", "20", "--json"
        )
        assert done.returncode in (0, 1), done.stderr
        report = json.loads(done.stdout)
        site = Site(report["site"], report["token"])
        now = int(time.time() * 1000) - 60_000
        failed = {
            "site": site.site,
            "sid": "grafana" + uuid.uuid4().hex[:8],
            "sent_at": now,
            "events": [
                {"t": "pageview", "ts": now, "pid": "g1", "url": "https://demo.test/cart"},
                {
                    "t": "error",
                    "ts": now + 5,
                    "pid": "g1",
                    "kind": "fetch",
                    "message": "fetch failed",
                    "method": "POST",
                    "req_url": "https://api.demo.test/orders",
                    "status": 502,
                    "duration": 830,
                },
            ],
        }
        assert server.send(failed).status_code == 202
        wait_for(
            lambda: any(
                e["error_kind"] == "fetch"
                for e in server.events(site, type="error", sid=failed["sid"])
            ),
            what="the failed request stored",
        )
        assert api(server, site, "/overview", period="24h")["pageviews"] > 0
        metrics = httpx.get(server.base_url + "/metrics", timeout=30).text
    finally:
        server.stop()
    return Filled(data_dir, site, metrics)


def run_sql(data_dir: Path, queries: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.web.grafana_sql", str(data_dir)],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_provisioning_names_the_data_sources_the_dashboards_use() -> None:
    text = (GRAFANA / "provisioning" / "datasources" / "beacon.yaml").read_text()
    assert f"uid: {CLICKHOUSE_UID}" in text and "type: grafana-clickhouse-datasource" in text
    assert f"uid: {PROMETHEUS_UID}" in text and "type: prometheus" in text
    assert (
        "/var/lib/grafana/dashboards/beacon"
        in (GRAFANA / "provisioning" / "dashboards" / "beacon.yaml").read_text()
    )
    boards = dashboards()
    assert sorted(boards) == ["errors.json", "ingest-health.json", "traffic.json", "vitals.json"]
    for name, board in boards.items():
        uids = {t["datasource"]["uid"] for p in _panels(board) for t in p["targets"]}
        assert uids <= {CLICKHOUSE_UID, PROMETHEUS_UID}, name
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"]), name


def test_every_clickhouse_panel_returns_rows_of_its_shape(filled: Filled) -> None:
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    start = end - dt.timedelta(days=2)
    variables = {"db": "beacon", "site": filled.site.site}
    cases: list[tuple[str, str, str]] = []
    for name, board in dashboards().items():
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                cases.append(
                    (f"{name}: variable {variable['name']}", "variable", variable["query"])
                )
        for panel in _panels(board):
            for target in panel["targets"]:
                if target["datasource"]["uid"] == CLICKHOUSE_UID:
                    cases.append(
                        (f"{name}: {panel['title']}", target["queryType"], target["rawSql"])
                    )
    assert len(cases) >= 20
    queries = [expand(sql, start, end, 3600, variables) for _, _, sql in cases]
    for sql in queries:
        assert "$" not in sql, sql
    results = run_sql(filled.data_dir, queries)
    for (label, kind, _), result in zip(cases, results, strict=True):
        assert "error" not in result, (label, result)
        assert result["rows"] >= 1, (label, result)
        if kind == "variable":
            assert result["columns"] == ["site_id"], label
            continue
        types = result["types"]
        if kind == "timeSeries":
            assert result["columns"][0] == "time" and types[0] == "datetime", (label, result)
            assert len(types) >= 2 and all(t in ("int", "float") for t in types[1:]), (
                label,
                result,
            )
        else:
            assert any(t in ("int", "float") for t in types), (label, result)
    # The site variable lists the demo's site.
    site_rows = run_sql(
        filled.data_dir,
        [f"SELECT count() FROM ({queries[0]}) WHERE site_id = '{filled.site.site}'"],
    )
    assert site_rows[0]["first"] == [1]


def test_every_metric_of_the_ingest_dashboard_is_in_metrics(filled: Filled) -> None:
    samples: dict[str, set[str]] = {}
    for line in filled.metrics.splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            name = name.split()[0]
            labels = set(re.findall(r'(\w+)="', rest.split("}")[0])) if rest else set()
            samples.setdefault(name, set()).update(labels)
    board = dashboards()["ingest-health.json"]
    used = 0
    for panel in _panels(board):
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == PROMETHEUS_UID
            expr = target["expr"]
            names = set(re.findall(r"\bbeacon_\w+", expr))
            assert names, expr
            for metric in names:
                assert metric in samples, (panel["title"], metric)
                used += 1
            for group in re.findall(r"by \(([^)]*)\)", expr):
                for label in (x.strip() for x in group.split(",")):
                    if label == "le":
                        continue
                    assert any(label in samples[m] for m in names), (panel["title"], label)
    assert used >= 10
