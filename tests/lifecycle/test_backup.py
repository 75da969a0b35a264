"""Backup and restore: a lost data directory comes back from the latest backup plus the
spool, to the state at the last acknowledgement, row for row."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import BeaconProcess, Site

pytestmark = pytest.mark.slow


def _send(server: BeaconProcess, site: Site, n: int, *, uid: str = "") -> list[str]:
    pids = []
    for _ in range(n):
        now = int(time.time() * 1000)
        pid = uuid.uuid4().hex[:12]
        body: dict[str, Any] = {
            "site": site.site,
            "sid": uuid.uuid4().hex,
            "sent_at": now,
            "events": [
                {"t": "pageview", "ts": now, "pid": pid, "url": "https://b.test/x"},
                {"t": "vital", "ts": now + 1, "pid": pid, "name": "LCP", "value": 1500.5},
                {"t": "custom", "ts": now + 2, "pid": pid, "name": "e", "props": {"k": 1}},
            ],
        }
        if uid:
            body["uid"] = uid
        assert server.send(body).status_code == 202
        pids.append(pid)
    return pids


def _export(server: BeaconProcess, site: Site) -> list[str]:
    """Every stored row of the site, whole, in one canonical order."""
    return sorted(json.dumps(row, sort_keys=True) for row in server.events(site))


def test_restore_plus_spool_replay_reaches_the_last_acknowledgement(tmp_path: Path) -> None:
    data, spool = tmp_path / "data", tmp_path / "spool-disk"
    env = {"BEACON_SPOOL_DIR": str(spool)}
    server = BeaconProcess(data, env=env).start()
    site = server.add_site("backup.test")
    _send(server, site, 20)
    _send(server, site, 3, uid="erase-me")
    server.wait_events(site, lambda rows: len(rows) == 69)

    done = server.cli("backup", str(tmp_path / "backup-1"), "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["spool_position"] > 0
    assert (tmp_path / "backup-1" / "beacon-backup.json").exists()

    # After the backup: more events, an erasure, a new site with events of its own.
    _send(server, site, 15)
    erased = httpx.delete(
        f"{server.base_url}/api/v1/sites/{site.site}/data",
        params={"uid": "erase-me"},
        headers={"authorization": f"Bearer {site.token}"},
        timeout=120,
    )
    assert erased.status_code == 200 and erased.json()["removed"]["events"] == 9
    later_site = server.add_site("later.test")
    _send(server, later_site, 5)
    _send(server, site, 5, uid="erase-me")  # the same person again, after the erasure
    server.wait_events(site, lambda rows: len(rows) == 60 + 45 + 15)
    server.wait_events(later_site, lambda rows: len(rows) == 15)
    before = {site.site: _export(server, site), later_site.site: _export(server, later_site)}
    # Acknowledged last, and likely still in the spool when the process dies.
    last = _send(server, site, 2)
    server.kill()

    shutil.rmtree(data)  # the data directory is lost; the backup and the spool are not
    restored = BeaconProcess(data, env=env, port=server.port)
    report = restored.cli("restore", str(tmp_path / "backup-1"), "--json")
    assert report.returncode == 0, report.stderr
    result = json.loads(report.stdout)
    assert result["replayed_rows"] >= 45 + 15 + 15 + 6 and result["redone"] >= 3

    restored.start()
    try:
        after_site = restored.wait_events(site, lambda rows: len(rows) == 126)
        assert {r["pid"] for r in after_site} >= set(last)
        expected = sorted(
            before[site.site]
            + [json.dumps(r, sort_keys=True) for r in after_site if r["pid"] in last]
        )
        assert _export(restored, site) == expected
        assert _export(restored, later_site) == before[later_site.site]  # its token works too
        # The erasure made after the backup was redone: none of the person's first events.
        uids = [r for r in after_site if r["user_id"] == "erase-me"]
        assert len(uids) == 15  # only the five batches sent after the erasure
    finally:
        restored.stop()
