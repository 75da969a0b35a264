"""The write-ahead spool: accepted batches are on disk before the 202 goes out.

Layout: a directory of segment files named by the global byte offset at which they
start (`00000000000000000000.seg`, …), each a sequence of records framed as
`<u32 length><u32 crc32><payload>`, and a `checkpoint` file holding `stored` (every
record before that offset is in ClickHouse) and `inflight_end` (the end of the batch
being inserted, so that after a crash the same records are retried as the same batch
with the same deduplication token).

Group commit: `append()` queues the record and waits; one writer at a time takes every
queued record, writes them with one `write` and one `fsync` in the I/O thread, then
wakes all their waiters. Under load many requests share one `fsync`.

Crash behaviour: a record is acknowledged only after its write (and `fsync`, unless
disabled) returned, so SIGKILL never loses an acknowledged record. A torn record at
the tail of the last segment (the machine died mid-write) is cut off at start-up; it
was never acknowledged. Limits: one process owns a spool directory (an exclusive
`flock` on `lock`); the backlog is bounded by `max_bytes` (`SpoolFull` beyond it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import json
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

__all__ = ["Record", "Spool", "SpoolFull", "SpoolLocked"]

_HEADER = struct.Struct("<II")
_SEGMENT_SUFFIX = ".seg"


class SpoolFull(RuntimeError):
    """The backlog not yet stored reached the configured maximum."""


class SpoolLocked(RuntimeError):
    """Another process owns this spool directory."""


class Record(msgspec.Struct, frozen=True):
    start: int
    end: int
    payload: bytes


class Checkpoint(msgspec.Struct):
    stored: int = 0
    inflight_end: int | None = None


MAX_TAIL_BYTES = 64 * 1024 * 1024


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _segment_name(start: int) -> str:
    return f"{start:020d}{_SEGMENT_SUFFIX}"


class Spool:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        fsync: bool = True,
        segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(directory / "lock", "a+b")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpoolLocked(f"another process owns the spool at {directory}") from None
        self._state = threading.Condition()
        self.checkpoint = self._read_checkpoint()
        retain = directory / "retain"
        self.retain_from: int | None = int(retain.read_text()) if retain.exists() else None
        self._segments: list[int] = self._recover_segments()
        last = self._segments[-1]
        self._write_fd = os.open(self._segment_path(last), os.O_WRONLY | os.O_APPEND)
        self._write_segment = last
        self._durable_end = last + os.fstat(self._write_fd).st_size
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._committing = False
        self._commit_task: asyncio.Task[None] | None = None  # held so it is not collected
        # Records made durable since the batcher last caught up, kept in memory so that
        # it reads them from here rather than back from disk (replay still reads disk).
        self._tail: collections.deque[Record] = collections.deque()
        self._tail_bytes = 0
        self._closed = False
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-io")
        self._read_fds: dict[int, int] = {}

    # -- recovery -------------------------------------------------------------------

    def _segment_path(self, start: int) -> Path:
        return self.directory / _segment_name(start)

    def _read_checkpoint(self) -> Checkpoint:
        path = self.directory / "checkpoint"
        if not path.exists():
            return Checkpoint()
        return msgspec.json.decode(path.read_bytes(), type=Checkpoint)

    def _recover_segments(self) -> list[int]:
        starts = sorted(
            int(p.name.removesuffix(_SEGMENT_SUFFIX))
            for p in self.directory.glob("*" + _SEGMENT_SUFFIX)
        )
        if not starts:
            start = self.checkpoint.stored
            self._segment_path(start).touch()
            return [start]
        # Only the last segment can end in a torn record: cut it at the last whole one.
        last = self._segment_path(starts[-1])
        data = last.read_bytes()
        position = 0
        while position + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, position)
            body_end = position + _HEADER.size + length
            if body_end > len(data) or zlib.crc32(data[position + _HEADER.size : body_end]) != crc:
                break
            position = body_end
        if position != len(data):
            with open(last, "r+b") as handle:
                handle.truncate(position)
                os.fsync(handle.fileno())
        return starts

    # -- state ----------------------------------------------------------------------

    @property
    def durable_end(self) -> int:
        with self._state:
            return self._durable_end

    @property
    def backlog_bytes(self) -> int:
        """Bytes accepted (or queued to be) and not yet stored in ClickHouse."""
        with self._state:
            return self._durable_end - self.checkpoint.stored + self._pending_bytes

    @property
    def segment_count(self) -> int:
        with self._state:
            return len(self._segments)

    # -- writing (event loop) -------------------------------------------------------

    async def append(self, payload: bytes) -> None:
        """Return once `payload` is durable; raise SpoolFull when the backlog is full."""
        if self._closed:
            raise SpoolFull("the spool is closed")
        # Read without the lock: an approximate backlog is good enough for a limit.
        backlog = self._durable_end - self.checkpoint.stored + self._pending_bytes
        if backlog + len(payload) > self.max_bytes:
            raise SpoolFull(f"spool backlog is at its limit of {self.max_bytes} bytes")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        frame = _frame(payload)
        with self._state:
            self._pending.append(frame)
            self._pending_bytes += len(frame)
        self._waiters.append(waiter)
        if not self._committing:
            self._committing = True
            self._commit_task = loop.create_task(self._commit_queued())
        await waiter

    async def _commit_queued(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiters:
                with self._state:
                    frames, self._pending, self._pending_bytes = self._pending, [], 0
                waiters, self._waiters = self._waiters, []
                try:
                    await loop.run_in_executor(self._io, self._write_frames, frames)
                except Exception as exc:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
        finally:
            self._committing = False

    def _write_frames(self, frames: list[bytes]) -> None:
        start = self._write(b"".join(frames))
        header = _HEADER.size
        with self._state:
            if self._tail_bytes > MAX_TAIL_BYTES:
                return  # the store is behind: the batcher reads from disk until it catches up
            if self._tail and self._tail[-1].end != start:
                self._tail.clear()
                self._tail_bytes = 0
            for frame in frames:
                end = start + len(frame)
                self._tail.append(Record(start, end, frame[header:]))
                self._tail_bytes += len(frame)
                start = end

    def _write(self, data: bytes) -> int:
        """Append `data` (whole frames) to the current segment; runs in the I/O thread."""
        with self._state:
            start = self._durable_end
        if start - self._write_segment >= self.segment_bytes:
            new_fd = os.open(self._segment_path(start), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.close(self._write_fd)
            self._write_fd, self._write_segment = new_fd, start
            with self._state:
                self._segments.append(start)
            self._fsync_directory()
        view = memoryview(data)
        while view:
            written = os.write(self._write_fd, view)
            view = view[written:]
        if self.fsync:
            os.fdatasync(self._write_fd)
        with self._state:
            self._durable_end = start + len(data)
            self._state.notify_all()
        return start

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading (batcher thread) ---------------------------------------------------

    def wait_for_data(self, position: int, timeout: float) -> bool:
        """Block until records exist past `position` (True) or `timeout` passes."""
        with self._state:
            return self._state.wait_for(lambda: self._durable_end > position, timeout)

    def read(self, position: int, *, max_bytes: int, end: int | None = None) -> list[Record]:
        """Durable records from `position` on, about `max_bytes` of them (at least one),
        or exactly up to `end` when given."""
        limit = self.durable_end if end is None else end
        records: list[Record] = []
        taken = 0
        with self._state:
            tail = self._tail
            while tail and tail[0].end <= position:
                self._tail_bytes -= len(tail[0].payload) + _HEADER.size
                tail.popleft()
            if tail and tail[0].start == position:
                for record in tail:
                    if record.start >= limit or (end is None and taken >= max_bytes and records):
                        break
                    records.append(record)
                    taken += len(record.payload)
                    position = record.end
        if position >= limit or (end is None and taken >= max_bytes and records):
            return records
        while position < limit and (end is not None or taken < max_bytes or not records):
            segment = self._segment_of(position)
            fd = self._read_fd(segment)
            header = os.pread(fd, _HEADER.size, position - segment)
            if len(header) < _HEADER.size:
                raise RuntimeError(f"spool segment {segment} ends early at {position}")
            length, crc = _HEADER.unpack(header)
            payload = os.pread(fd, length, position - segment + _HEADER.size)
            if len(payload) != length or zlib.crc32(payload) != crc:
                raise RuntimeError(f"spool record at {position} is corrupt")
            record_end = position + _HEADER.size + length
            records.append(Record(position, record_end, payload))
            taken += length
            position = record_end
        return records

    def _segment_of(self, position: int) -> int:
        with self._state:
            segments = list(self._segments)
        for start in reversed(segments):
            if start <= position:
                return start
        raise RuntimeError(f"no spool segment holds offset {position}")

    def _read_fd(self, segment: int) -> int:
        fd = self._read_fds.get(segment)
        if fd is None:
            fd = os.open(self._segment_path(segment), os.O_RDONLY)
            self._read_fds[segment] = fd
        return fd

    # -- checkpoint (batcher thread) ------------------------------------------------

    def begin_batch(self, start: int, end: int) -> None:
        """Record that [start, end) is being inserted, before inserting it."""
        self._write_checkpoint(Checkpoint(stored=start, inflight_end=end))

    def commit_batch(self, end: int) -> None:
        """Everything before `end` is stored; drop segments that are wholly before it
        (and before `retain_from`, what the latest backup needs replayed)."""
        self._write_checkpoint(Checkpoint(stored=end))
        keep_from = end if self.retain_from is None else min(end, self.retain_from)
        with self._state:
            removable = [
                s for i, s in enumerate(self._segments[:-1]) if self._segments[i + 1] <= keep_from
            ]
            self._segments = [s for s in self._segments if s not in removable]
        for start in removable:
            fd = self._read_fds.pop(start, None)
            if fd is not None:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                self._segment_path(start).unlink()

    # -- backups (app/lifecycle/backup.py) --------------------------------------------

    @property
    def first_offset(self) -> int:
        """Where the oldest record still on disk starts."""
        with self._state:
            return self._segments[0]

    def retain(self, position: int) -> None:
        """Keep every record from `position` on, stored or not (a backup's position:
        restoring it replays them). Durable before it returns."""
        temporary = self.directory / "retain.tmp"
        temporary.write_text(str(position))
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / "retain")
        self._fsync_directory()
        self.retain_from = position

    def rewind(self, position: int) -> None:
        """Mark everything from `position` on as not stored (the store was restored to
        it), so the batcher inserts it again. `position` must be a record boundary on disk."""
        if not self.first_offset <= position <= self.durable_end:
            raise ValueError(
                f"the spool holds records from {self.first_offset} to {self.durable_end}, "
                f"not from {position}"
            )
        self._write_checkpoint(Checkpoint(stored=position))
        with self._state:
            self._tail.clear()
            self._tail_bytes = 0

    def _write_checkpoint(self, checkpoint: Checkpoint) -> None:
        path = self.directory / "checkpoint"
        temporary = self.directory / "checkpoint.tmp"
        with open(temporary, "wb") as handle:
            handle.write(msgspec.json.encode(checkpoint))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        self._fsync_directory()
        with self._state:
            self.checkpoint = checkpoint

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._io.shutdown(wait=True)
        os.close(self._write_fd)
        for fd in self._read_fds.values():
            os.close(fd)
        self._read_fds.clear()
        self._lock_file.close()

    def describe(self) -> str:
        return json.dumps(
            {
                "stored": self.checkpoint.stored,
                "durable_end": self.durable_end,
                "segments": self.segment_count,
            }
        )
