"""The lifecycle journal: what a restore must redo after replaying the spool.

A backup holds the store up to one spool position; the spool holds what was acknowledged
after it. Other changes made after a backup live neither in the backup nor in the spool:
sites and tokens made or changed, erasures, site deletions. Each is appended here (one
JSON object per line, `fsync`ed, owner-only) with the spool position it happened at, and
`beacon restore` redoes them in order between the replayed records (an erasure is redone
after exactly the records it had erased, so later events of the same person stay).

It sits beside the spool (`<spool>/journal.jsonl`) because it must survive what the
spool survives. Erasures are journaled by the SHA-256 of their subject only (see
`app/lifecycle/erasure.py`), never the uid or sid itself. Entries up to the latest
backup are dropped when a backup is made; restoring an older backup cannot replay the
spool anyway (it keeps records since the latest backup only).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal

import msgspec

__all__ = ["Entry", "Journal"]

Kind = Literal["row", "erase", "site_delete"]


class Entry(msgspec.Struct, frozen=True, omit_defaults=True):
    seq: int
    position: int
    kind: Kind
    site: str = ""
    table: str = ""
    row: dict[str, Any] = {}
    erase_kind: str = ""
    subject_hash: str = ""
    by: str = ""


class Journal:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "journal.jsonl"
        self._floor = directory / "journal.seq"  # numbers go on after entries are dropped
        self._lock = threading.Lock()
        dropped = int(self._floor.read_text()) if self._floor.exists() else 0
        self._seq = max((e.seq for e in self.entries()), default=dropped)

    @property
    def seq(self) -> int:
        return self._seq

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        decoder = msgspec.json.Decoder(Entry)
        lines = self.path.read_bytes().splitlines()
        entries = []
        for line in lines:
            try:
                entries.append(decoder.decode(line))
            except msgspec.DecodeError:
                break  # a line torn by a crash mid-append: it was never acknowledged
        return entries

    def append(self, position: int, kind: Kind, **fields: Any) -> Entry:
        with self._lock:
            entry = Entry(seq=self._seq + 1, position=position, kind=kind, **fields)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, msgspec.json.encode(entry) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            self._seq = entry.seq
            return entry

    def drop_through(self, seq: int) -> None:
        """Forget the entries up to `seq` (a backup holds their effects)."""
        with self._lock:
            self._floor.write_text(str(max(seq, self._seq)))
            kept = [e for e in self.entries() if e.seq > seq]
            temporary = self.path.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"".join(msgspec.json.encode(e) + b"\n" for e in kept))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
