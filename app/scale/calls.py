"""Coalesced Redis calls: every command queued in one event-loop turn goes in one pipeline.

An awaited command per request costs about 60 µs of client CPU with async redis-py and
one round trip; a pipeline of a hundred costs about 16 µs each and one round trip for
all. So requests do not talk to Redis themselves: they queue a command and await its
future. One flush at a time takes everything queued, sends it as one non-transactional
pipeline, and resolves each future with its own reply (or error). While a flush is out,
new commands queue up for the next one — the same group commit as the spool's `fsync`.

Scripts are called by SHA (`EVALSHA`); after a Redis restart has forgotten them, the
calls that failed with NOSCRIPT are sent again once with the script loaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.exceptions import NoScriptError

__all__ = ["LuaScript", "PipelinedCalls"]

log = logging.getLogger("beacon.scale")

Command = tuple[Any, ...]


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class CallStats:
    def __init__(self) -> None:
        self.pipelines = 0
        self.commands = 0
        self.errors = 0


class PipelinedCalls:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # held so it is not collected
        self._scripts: dict[str, str] = {}
        self.stats = CallStats()

    def submit(self, *command: Any) -> asyncio.Future[Any]:
        """Queue `command`; the future resolves with its reply after the next flush."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((command, future))
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush_queued())
        return future

    async def call(self, *command: Any) -> Any:
        return await self.submit(*command)

    def fire(self, *command: Any) -> None:
        """Queue `command` without waiting; a failure is counted and logged, not raised."""
        self.submit(*command).add_done_callback(self._note_failure)

    def script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        self._scripts[script.sha] = script.source
        return self.submit("EVALSHA", script.sha, len(keys), *keys, *args)

    def fire_script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any]) -> None:
        self.script(script, keys, args).add_done_callback(self._note_failure)

    def _note_failure(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.stats.errors += 1
            log.debug("fire-and-forget Redis command failed", extra={"error": str(exc)})

    async def _flush_queued(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
        finally:
            self._flushing = False

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        try:
            replies = await self._execute([command for command, _ in batch])
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:
                for sha in {batch[i][0][1] for i in missing}:
                    await self._client.script_load(self._scripts[sha])
                again = await self._execute([batch[i][0] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except Exception as exc:
            self.stats.errors += 1
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, commands: list[Command]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        self.stats.pipelines += 1
        self.stats.commands += len(commands)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    async def wait_idle(self) -> None:
        """Let the flush in progress (if any) finish; for shutdown."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=5)
