"""The batcher against embedded ClickHouse: batching, exactly-once replay, retries."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from app.buffer.batcher import Batcher
from app.buffer.spool import Spool
from app.store.client import Store, StoreError
from app.store.rows import EVENT_COLUMNS, EventRow, encode_rows


def _rows(count: int, site: str = "s_test", start: int = 0) -> bytes:
    now = time.time()
    return encode_rows(
        [
            EventRow(
                site_id=site,
                ts=now,
                received_at=now,
                type="pageview",
                sid=f"sid-{start + i}",
                visitor_id=start + i,
                url="https://a.test/",
                session_start=now,
            )
            for i in range(count)
        ]
    )


def _spool_payloads(spool: Spool, payloads: list[bytes]) -> None:
    async def run() -> None:
        for payload in payloads:
            await spool.append(payload)

    asyncio.run(run())


def _count(store: Store) -> int:
    return int(store.rows(f"SELECT count() FROM {store.table('events')}")[0][0])


def _inserter(store: Store):  # type: ignore[no-untyped-def]
    def insert(body: bytes, token: str) -> None:
        store.insert_json_rows("events", EVENT_COLUMNS, body, dedup_token=token)

    return insert


def test_spooled_rows_reach_the_store_in_few_inserts(store: Store, tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**8)
    _spool_payloads(spool, [_rows(10, start=i * 10) for i in range(50)])
    batcher = Batcher(spool, _inserter(store), batch_rows=1000, batch_ms=200)
    batcher.start()
    batcher.stop(timeout=30)
    assert _count(store) == 500
    assert batcher.stats.rows == 500
    assert batcher.stats.batches <= 2
    assert spool.backlog_bytes == 0
    spool.close()


def test_a_batch_interrupted_after_its_insert_is_stored_once(store: Store, tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**8)
    _spool_payloads(spool, [_rows(5, start=0), _rows(5, start=5), _rows(5, start=10)])
    records = spool.read(0, max_bytes=10**6)
    # What a crash leaves behind: the range recorded, its insert done, no commit.
    first_two_end = records[1].end
    spool.begin_batch(0, first_two_end)
    body = records[0].payload + records[1].payload
    _inserter(store)(body, f"spool-0-{first_two_end}")
    spool.close()
    assert _count(store) == 10

    reopened = Spool(tmp_path, max_bytes=10**8)
    batcher = Batcher(reopened, _inserter(store), batch_rows=1000, batch_ms=50)
    batcher.start()
    batcher.stop(timeout=30)
    assert _count(store) == 15
    distinct = store.rows(f"SELECT uniqExact(visitor_id) FROM {store.table('events')}")[0][0]
    assert distinct == 15
    reopened.close()


def test_failed_inserts_are_retried_until_stored(store: Store, tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**8)
    _spool_payloads(spool, [_rows(7)])
    failures = 2
    real_insert = _inserter(store)

    def flaky_insert(body: bytes, token: str) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise StoreError("store unreachable (injected)")
        real_insert(body, token)

    batcher = Batcher(spool, flaky_insert, batch_rows=1000, batch_ms=50)
    batcher.start()
    batcher.stop(timeout=30)
    assert _count(store) == 7
    assert batcher.stats.insert_errors == 2
    assert batcher.healthy
    spool.close()


def test_a_retried_insert_is_not_counted_twice_by_the_rollups(store: Store) -> None:
    body = _rows(6)
    for _ in range(3):
        _inserter(store)(body, "spool-0-123")
    assert _count(store) == 6
    sessions = store.rows(f"SELECT count(), sum(pageviews) FROM {store.table('sessions')}")
    assert sessions == [(6, 6)]
