"""The stream sink: coalesced XADDs, a backlog bounded by policy, 503 reasons."""

from __future__ import annotations

import asyncio

import pytest
import redis

from app.scale.calls import PipelinedCalls
from app.scale.connect import async_client
from app.scale.keys import Keys
from app.scale.sink import StreamFull, StreamSink, StreamUnavailable
from tests.support import free_port


def test_concurrent_appends_share_pipelines(redis_url: str, prefix: str) -> None:
    keys = Keys(prefix)

    async def run() -> tuple[int, int]:
        client = async_client(redis_url)
        calls = PipelinedCalls(client)
        sink = StreamSink(calls, keys.stream, max_entries=10_000)
        try:
            await asyncio.gather(*(sink.append(b'{"n":%d}\n' % i) for i in range(300)))
            return calls.stats.pipelines, int(await client.xlen(keys.stream))
        finally:
            await client.aclose()

    pipelines, length = asyncio.run(run())
    assert length == 300
    # 300 requests of one event-loop turn: a handful of pipelines, not 300 round trips.
    assert pipelines <= 5


def test_a_full_backlog_refuses_and_trims_nothing(redis_url: str, prefix: str) -> None:
    keys = Keys(prefix)

    async def run() -> None:
        client = async_client(redis_url)
        sink = StreamSink(PipelinedCalls(client), keys.stream, max_entries=5)
        try:
            for i in range(5):
                await sink.append(b"row %d\n" % i)
            with pytest.raises(StreamFull, match="limit of 5"):
                await sink.append(b"one too many\n")
        finally:
            await client.aclose()

    asyncio.run(run())
    with redis.Redis.from_url(redis_url) as client:
        entries = client.xrange(keys.stream)
    assert [fields[b"r"] for _, fields in entries] == [b"row %d\n" % i for i in range(5)]


def test_redis_unreachable_is_unavailable_not_full() -> None:
    async def run() -> None:
        client = async_client(f"redis://127.0.0.1:{free_port()}/0")
        sink = StreamSink(PipelinedCalls(client), "x:{stream}", max_entries=5)
        try:
            with pytest.raises(StreamUnavailable) as caught:
                await sink.append(b"row\n")
            assert caught.value.reason == "store_unavailable"
        finally:
            await client.aclose()

    asyncio.run(run())
