"""The writer against real Redis and real embedded ClickHouse: batches stored once, also
when a dead consumer's batch is reclaimed by another (same entries, same token)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import msgspec
import pytest
import redis

from app.scale.keys import GROUP, Keys
from app.scale.sink import PAYLOAD_FIELD
from app.scale.writer import Manifest, StreamWorker, batch_token
from app.store.client import Store
from app.store.rows import EVENT_COLUMNS, EventRow, encode_rows

CLAIM_IDLE_MS = 400


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


def _add_entries(client: redis.Redis, keys: Keys, first: int, count: int) -> list[str]:
    """`count` entries of 3 rows each, pids p<first>…; returns their ids."""
    ids = []
    now = time.time()
    for n in range(first, first + count):
        rows = [
            EventRow(site_id="s", ts=now, received_at=now, type="custom", sid="x", visitor_id=1,
                     pid=f"p{n}", name=f"e{i}")
            for i in range(3)
        ]  # fmt: skip
        ids.append(client.xadd(keys.stream, {PAYLOAD_FIELD: encode_rows(rows)}).decode())
    return ids


def _worker(client: redis.Redis, keys: Keys, store: Store, name: str) -> StreamWorker:
    def insert(body: bytes, token: str) -> None:
        store.insert_json_rows("events", EVENT_COLUMNS, body, dedup_token=token)

    return StreamWorker(
        client, keys, insert, batch_rows=1_000_000, batch_ms=50,
        claim_idle_ms=CLAIM_IDLE_MS, consumer=name, read_count=7,
    )  # fmt: skip


def _stored(store: Store) -> dict[str, int]:
    rows = store.rows(f"SELECT pid, count() FROM {store.table('events')} GROUP BY pid")
    return {str(pid): int(n) for pid, n in rows}


def test_collect_insert_acknowledge_and_trim(
    client: redis.Redis, prefix: str, store: Store
) -> None:
    keys = Keys(prefix)
    _add_entries(client, keys, 0, 20)
    worker = _worker(client, keys, store, "w1")
    worker.ensure_group()
    entries = worker.collect()
    assert len(entries) == 20  # several reads of 7 gathered into one batch
    assert worker.flush(worker.new_batch(entries))
    assert _stored(store) == {f"p{n}": 3 for n in range(20)}
    assert client.xpending(keys.stream, GROUP)["pending"] == 0
    assert client.hlen(keys.inflight) == 0
    worker.trim()
    assert client.xlen(keys.stream) == 0


def test_a_dead_consumers_batch_is_reinserted_under_its_own_token(
    client: redis.Redis, prefix: str, store: Store
) -> None:
    """A inserted a batch and died before XACK; B re-forms exactly that batch.

    B also holds its own newer entries and finds entries A had read but not yet begun to
    insert: they must not be mixed into A's batch, or the token would not match.
    """
    keys = Keys(prefix)
    a = _worker(client, keys, store, "dead-a")
    a.ensure_group()
    _add_entries(client, keys, 0, 10)
    batch = a.new_batch(a.collect())
    # A's flush up to the insert: the manifest, then the insert, then death (no XACK).
    manifest = Manifest("dead-a", [e.id for e in batch.entries])
    client.hset(keys.inflight, batch.token, msgspec.json.encode(manifest))
    a._insert(b"".join(e.payload for e in batch.entries), batch.token)
    # A read five more entries and died before writing their manifest.
    _add_entries(client, keys, 10, 5)
    orphans = a.collect()
    assert len(orphans) == 5
    assert _stored(store) == {f"p{n}": 3 for n in range(10)}

    time.sleep(CLAIM_IDLE_MS / 1000 + 0.2)
    b = _worker(client, keys, store, "alive-b")
    _add_entries(client, keys, 15, 4)
    reclaimed = b.reclaim()
    assert [len(r.entries) for r in reclaimed] == [10, 5]
    assert reclaimed[0].token == batch.token  # the same batch, the same token
    assert [e.id for e in reclaimed[0].entries] == [e.id for e in batch.entries]
    for again in reclaimed:
        assert b.flush(again)
    fresh = b.collect()
    assert len(fresh) == 4
    assert b.flush(b.new_batch(fresh))

    assert _stored(store) == {f"p{n}": 3 for n in range(19)}  # each once, none twice
    assert client.xpending(keys.stream, GROUP)["pending"] == 0
    assert client.hlen(keys.inflight) == 0


def test_reclaim_completes_a_batch_that_xautoclaim_returned_in_part(
    client: redis.Redis, prefix: str, store: Store
) -> None:
    """XAUTOCLAIM returns only idle entries (and pages by count): the manifest brings the
    rest of the batch, so it is re-formed whole, in order, under its token."""
    keys = Keys(prefix)
    a = _worker(client, keys, store, "dead-a")
    a.ensure_group()
    ids = _add_entries(client, keys, 0, 6)
    assert [e.id for e in a.collect()] == ids
    token = batch_token(ids)
    client.hset(keys.inflight, token, msgspec.json.encode(Manifest("dead-a", ids)))
    time.sleep(CLAIM_IDLE_MS / 1000 + 0.2)
    # The first half looks recently touched, so XAUTOCLAIM returns only the second half.
    client.xclaim(keys.stream, GROUP, "dead-a", 0, ids[:3], justid=True, idle=0)
    b = _worker(client, keys, store, "alive-b")
    reclaimed = b.reclaim()
    assert len(reclaimed) == 1
    assert reclaimed[0].token == token
    assert [e.id for e in reclaimed[0].entries] == ids
    assert b.flush(reclaimed[0])
    assert _stored(store) == {f"p{n}": 3 for n in range(6)}
