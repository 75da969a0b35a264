"""Backup and restore: ClickHouse's own `BACKUP`/`RESTORE`, consistent with the spool.

`backup(path)` holds the writer still between two batches, so the store holds exactly
the spool's records before `checkpoint.stored`, and runs `BACKUP DATABASE … TO
File(path)` (embedded chdb allows any path; a ClickHouse server only paths under its
`backups.allowed_path`, on the server's machine). It then tells the spool to keep every
record from that position on (`Spool.retain`), stored or not, until the next backup, and
writes a manifest (`beacon-backup.json` in the backup, and a copy beside the spool):
database, time, spool position and identity, journal sequence.

`restore(path)` (no server running) drops the database, `RESTORE`s it, applies newer
migrations, rewinds the spool to the backup's position and replays it into the store,
redoing the journal's entries (sites and tokens made, erasures, site deletions since the
backup) at the positions they happened (app/lifecycle/journal.py). The result is the
state at the last acknowledgement. Replayed batches are new inserts with tokens of their
own; the restored tables start with empty deduplication logs and hold nothing after the
backup's position, so nothing is stored twice.

Limits: only the latest backup can be replayed forward (the spool keeps records since
it); an older one restores to its own moment. Scale mode has no spool: a restore there
returns to the backup alone (what the Redis Stream still holds after it is written again
by the workers as usual, nothing older). The spool must survive what the data does not:
to survive a lost disk, keep it on another (`BEACON_SPOOL_DIR`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

import msgspec

from app.buffer.spool import Spool
from app.config import Settings
from app.lifecycle.erasure import delete_site, erase
from app.lifecycle.journal import Entry, Journal
from app.store.client import Store
from app.store.migrate import apply_migrations
from app.store.rows import EVENT_COLUMNS
from app.store.sites import SiteStore

__all__ = ["Manifest", "backup", "restore", "spool_identity"]

MANIFEST = "beacon-backup.json"
_REPLAY_BYTES = 64 * 1024 * 1024


class Manifest(msgspec.Struct, frozen=True):
    path: str
    database: str
    created_at: str
    spool_position: int | None
    spool_id: str
    journal_seq: int
    format: int = 1


def _path(path: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if re.search(r"['\\\x00-\x1f]", str(resolved)):
        raise ValueError(f"backup path {str(resolved)!r} has a quote or control character")
    return resolved


def spool_identity(directory: Path) -> str:
    """The spool's own id (made once), so that a restore replays only its own spool."""
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "id"
    if not marker.exists():
        marker.write_text(uuid.uuid4().hex)
    return marker.read_text().strip()


def _copy_of(directory: Path, path: Path) -> Path:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return directory / "backups" / f"{digest}.json"


def backup(
    store: Store,
    path: str,
    *,
    spool: Spool | None,
    spool_dir: Path,
    journal: Journal | None,
) -> Manifest:
    """Back up the database to `path`; call with the writer held still (see above)."""
    target = _path(path)
    if store.embedded and target.exists():
        raise ValueError(f"{target} exists already; back up to a new path")
    if spool is not None and spool.checkpoint.inflight_end is not None:
        raise RuntimeError("a batch is half stored; hold the writer between batches")
    position = spool.checkpoint.stored if spool is not None else None
    seq = journal.seq if journal is not None else 0
    store.command(f"BACKUP DATABASE {store.db} TO File('{target}')")
    if spool is not None and position is not None:
        spool.retain(position)
    manifest = Manifest(
        path=str(target),
        database=store.db,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        spool_position=position,
        spool_id=spool_identity(spool_dir),
        journal_seq=seq,
    )
    encoded = msgspec.json.encode(manifest)
    if store.embedded:
        (target / MANIFEST).write_bytes(encoded)
    copy = _copy_of(spool_dir, target)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(encoded)
    if journal is not None:
        journal.drop_through(seq)
    return manifest


def _manifest(target: Path, spool_dir: Path) -> Manifest:
    for candidate in (target / MANIFEST, _copy_of(spool_dir, target)):
        if candidate.exists():
            return msgspec.json.decode(candidate.read_bytes(), type=Manifest)
    raise ValueError(f"{target} is not a Beacon backup (no {MANIFEST}, no copy beside the spool)")


def _replay_until(store: Store, spool: Spool, stop: int) -> int:
    """Insert the spool's records from its checkpoint up to `stop`; the rows inserted."""
    rows = 0
    position = spool.checkpoint.stored
    while position < stop:
        records = [r for r in spool.read(position, max_bytes=_REPLAY_BYTES) if r.end <= stop]
        if not records:
            raise RuntimeError(f"the spool has no whole record from {position} to {stop}")
        start, end = records[0].start, records[-1].end
        body = b"".join(record.payload for record in records)
        spool.begin_batch(start, end)
        store.insert_json_rows("events", EVENT_COLUMNS, body, dedup_token=f"spool-{start}-{end}")
        spool.commit_batch(end)
        rows += body.count(b"\n")
        position = end
    return rows


def _redo(store: Store, entry: Entry) -> None:
    if entry.kind == "row":
        SiteStore(store).write_row(entry.table, entry.row)
    elif entry.kind == "erase":
        kind = "uid" if entry.erase_kind == "uid" else "sid"
        erase(store, entry.site, kind, entry.subject_hash, by=f"restore: {entry.by}", hashed=True)
    else:
        delete_site(store, entry.site, by=f"restore: {entry.by}")


def restore(settings: Settings, path: str) -> dict[str, Any]:
    """Restore the backup at `path` and replay the spool since it (no server running)."""
    target = _path(path)
    manifest = _manifest(target, settings.spool_path)
    store = Store.open(settings)
    store.command(f"DROP DATABASE IF EXISTS {store.db} SYNC")
    store.command(f"RESTORE DATABASE {manifest.database} AS {store.db} FROM File('{target}')")
    apply_migrations(store, retention_days=settings.retention_days)
    report: dict[str, Any] = {
        "restored": str(target),
        "backup_of": manifest.created_at,
        "replayed_rows": 0,
        "redone": 0,
    }
    if manifest.spool_position is None or settings.scale:
        report["note"] = "no spool to replay (scale mode): restored to the backup's moment"
        return report
    spool = Spool(settings.spool_path, max_bytes=settings.spool_max_bytes, fsync=True)
    try:
        own = spool_identity(settings.spool_path) == manifest.spool_id
        position = manifest.spool_position
        if not own or not spool.first_offset <= position <= spool.durable_end:
            report["note"] = (
                "the spool does not hold the records since this backup (another spool, or a "
                "later backup let them go): restored to the backup's moment only"
            )
            return report
        spool.rewind(position)
        journal = Journal(settings.spool_path)
        for entry in journal.entries():
            if entry.seq <= manifest.journal_seq:
                continue
            report["replayed_rows"] += _replay_until(store, spool, max(entry.position, position))
            _redo(store, entry)
            report["redone"] += 1
        report["replayed_rows"] += _replay_until(store, spool, spool.durable_end)
    finally:
        spool.close()
    return report
