"""The write-ahead spool: durability, group commit, torn tails, segments, limits."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from app.buffer.spool import Spool, SpoolFull, SpoolLocked


def _append_all(spool: Spool, payloads: list[bytes]) -> None:
    async def run() -> None:
        await asyncio.gather(*(spool.append(p) for p in payloads))

    asyncio.run(run())


def test_appended_records_read_back_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6)
    payloads = [f'{{"n":{i}}}\n'.encode() for i in range(200)]
    _append_all(spool, payloads)
    records = spool.read(0, max_bytes=10**6)
    assert [r.payload for r in records] == payloads
    assert records[-1].end == spool.durable_end
    assert all(a.end == b.start for a, b in itertools.pairwise(records))
    spool.close()


def test_concurrent_appends_share_writes(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6)
    writes = 0
    original = spool._write

    def counting_write(data: bytes) -> int:
        nonlocal writes
        writes += 1
        return original(data)

    spool._write = counting_write  # type: ignore[method-assign]
    _append_all(spool, [b"x\n"] * 100)
    from_memory = spool.read(0, max_bytes=10**6)
    assert [r.payload for r in from_memory] == [b"x\n"] * 100
    # The same records as read back from disk, where a replay after a restart reads them.
    spool._tail.clear()
    assert spool.read(0, max_bytes=10**6) == from_memory
    # The first append commits alone; the other 99 queue behind its fsync and share one.
    assert writes < 10
    spool.close()


def test_records_survive_reopen_and_torn_tail_is_cut(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6)
    _append_all(spool, [b"a\n", b"b\n"])
    end = spool.durable_end
    spool.close()
    segment = next(tmp_path.glob("*.seg"))
    with open(segment, "ab") as handle:
        handle.write(b"\x10\x00\x00\x00garbage")  # a frame header promising more than is there
    reopened = Spool(tmp_path, max_bytes=10**6)
    assert reopened.durable_end == end
    assert [r.payload for r in reopened.read(0, max_bytes=100)] == [b"a\n", b"b\n"]
    reopened.close()


def test_checkpoint_remembers_the_batch_in_flight(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6)
    _append_all(spool, [b"a\n", b"b\n", b"c\n"])
    records = spool.read(0, max_bytes=100)
    spool.begin_batch(0, records[1].end)
    spool.close()
    reopened = Spool(tmp_path, max_bytes=10**6)
    assert reopened.checkpoint.stored == 0
    assert reopened.checkpoint.inflight_end == records[1].end
    reopened.commit_batch(records[1].end)
    assert reopened.checkpoint.inflight_end is None
    assert reopened.backlog_bytes == records[2].end - records[1].end
    reopened.close()


def test_segments_rotate_and_stored_ones_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6, segment_bytes=64)
    for i in range(20):
        _append_all(spool, [f"record-{i:02d}-{'x' * 20}\n".encode()])
    assert spool.segment_count > 3
    records = spool.read(0, max_bytes=10**6)
    assert len(records) == 20
    spool.commit_batch(records[-1].end)
    assert spool.segment_count == 1
    assert len(list(tmp_path.glob("*.seg"))) == 1
    spool.close()


def test_full_spool_refuses(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100)
    _append_all(spool, [b"y" * 60])
    with pytest.raises(SpoolFull):
        _append_all(spool, [b"z" * 60])
    assert len(spool.read(0, max_bytes=1000)) == 1
    spool.close()


def test_one_process_owns_a_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100)
    with pytest.raises(SpoolLocked):
        Spool(tmp_path, max_bytes=100)
    spool.close()
