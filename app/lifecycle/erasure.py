"""Erasure: one person (by `uid` or `sid`) or a whole site, out of every table.

A person is erased by whole sessions: erasing a `uid` erases every session (`sid`) in
which that uid appears — events sent before `beacon('user', …)` in the same session carry
the same `sid` and are the same person. Then:

1. the affected keys of every derived table are read from the person's events (the
   days, weeks, fingerprints and session keys their rows fed; `app/lifecycle/registry.py`);
2. every derived table loses its rows of those keys for the site and gets them back
   rebuilt from the site's other events (the view's own SELECT, or the closer's copy);
   session-keyed tables just lose the person's sessions;
3. the events are deleted (`ALTER TABLE … DELETE`, a mutation that rewrites the parts
   holding them, waited for: the rows are gone from disk, not only hidden) — last, so
   that an erasure cut short can simply be asked for again;
4. the erasure is logged in `erasures`: who asked, the kind, a SHA-256 of the subject
   (never the uid or sid itself), the sessions and rows removed and rebuilt per table.

So every number — overview, breakdowns, vitals, issue counts — is what it would be had
the person never been seen (tested against a store that never received them). The
caller (`app/lifecycle/service.py`) first waits until everything acknowledged before the
request is stored and holds the writer still, so no insert lands between the delete and
the rebuild.

Limits: rebuilding reads `events`; where rollups are kept longer than events, a rebuilt
week or issue loses what its expired events had contributed. Backups made before an
erasure still hold the person (a restore redoes the erasures journaled since the backup,
app/lifecycle/backup.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from app.lifecycle.registry import DERIVED, EVENTS_PARTITION, KEPT, SOURCE, Derived
from app.store import closing, settled_cache
from app.store.client import Store

__all__ = [
    "CLOSERS",
    "Erasure",
    "delete_site",
    "erase",
    "list_erasures",
    "subject_hash",
]

Kind = Literal["uid", "sid", "site"]

#: The closers' rebuild of one site's closed days, per `closer` table of the registry.
CLOSERS: dict[str, Callable[[Store, str, list[Any]], None]] = {
    copy.target: (
        lambda store, site, days, target=copy.target: closing.reclose_site_days(
            store, target, site, days
        )
    )
    for copy in closing.CLOSED
}
_MUTATION = {"mutations_sync": 2, "alter_sync": 2}


class Erasure(msgspec.Struct, frozen=True):
    site: str
    at: str
    by: str
    kind: str
    subject_hash: str
    sessions: int
    removed: dict[str, int]
    rebuilt: dict[str, int]


def subject_hash(site: str, kind: str, value: str) -> str:
    """What the log and the journal keep of an erased subject (site keys hold no ':')."""
    return hashlib.sha256(f"{site}:{kind}:{value}".encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def clear_caches() -> None:
    """Forget what this process keeps of data that changed under it (every cache of
    settled numbers: app/store/settled_cache.py)."""
    settled_cache.clear_all()


def _sessions_of(store: Store, site: str, kind: str, value: str, *, hashed: bool) -> list[str]:
    """The sids to erase: the one given, or every sid that carried the uid."""
    if kind == "sid" and not hashed:
        return [value]
    column = "user_id" if kind == "uid" else "sid"
    match = (
        f"lower(hex(SHA256(concat(site_id, ':{kind}:', {column})))) = {{value:String}}"
        if hashed
        else f"{column} = {{value:String}}"
    )
    rows = store.rows(
        f"SELECT DISTINCT sid FROM {store.table(SOURCE)} "
        f"WHERE site_id = {{site:String}} AND {match}",
        {"site": site, "value": value},
    )
    return [row[0] for row in rows]


def _view_select(store: Store, derived: Derived) -> str:
    """The view's SELECT with its `events` narrowed to `{site}` and `{keys}`."""
    rows = store.rows(
        "SELECT as_select FROM system.tables WHERE database = {db:String} AND name = {v:String}",
        {"db": store.db, "v": derived.view},
    )
    if not rows:
        raise ValueError(f"{derived.table}: its view {derived.view} does not exist")
    source = (
        f"(SELECT * FROM {store.table(SOURCE)} WHERE site_id = {{site:String}} "
        f"AND ({derived.source_key}) IN {{keys:Array({derived.key_type})}} "
        "AND sid NOT IN {erased:Array(String)})"
    )
    select, count = re.subn(rf"\bFROM {store.db}\.{SOURCE}\b", f"FROM {source}", rows[0][0])
    if not count:
        raise ValueError(f"{derived.view} does not read {store.db}.{SOURCE}")
    return select


def _count(store: Store, table: str, where: str, params: dict[str, Any]) -> int:
    return int(store.rows(f"SELECT count() FROM {store.table(table)} WHERE {where}", params)[0][0])


def _where(derived: Derived) -> str:
    where = f"site_id = {{site:String}} AND ({derived.key}) IN {{keys:Array({derived.key_type})}}"
    if derived.prune:
        where += f" AND ({derived.prune}) IN {{days:Array(Date)}}"
    return where


def rebuild(
    store: Store,
    derived: Derived,
    site: str,
    keys: list[Any],
    erased: list[str],
    days: list[Any] | None = None,
) -> int:
    """Delete the site's rows of `keys` (and, for a table with `prune`, of `days`) from a
    derived table and make them again from the site's events but those of the sessions
    `erased`; the rows written back."""
    where = _where(derived)
    params = {"site": site, "keys": keys, "erased": erased, "days": days or []}
    store.command(
        f"ALTER TABLE {store.table(derived.table)} DELETE WHERE {where}", params, settings=_MUTATION
    )
    if derived.rebuild == "view":
        select = _view_select(store, derived)
        names, _ = store.query(f"SELECT * FROM ({select}) LIMIT 0", params)
        columns = {
            row[0]
            for row in store.rows(
                "SELECT name FROM system.columns "
                "WHERE database = {db:String} AND table = {t:String}",
                {"db": store.db, "t": derived.table},
            )
        }
        kept = ", ".join(name for name in names if name in columns)
        store.command(
            f"INSERT INTO {store.table(derived.table)} ({kept}) SELECT {kept} FROM ({select})",
            params,
            settings={"insert_deduplicate": 0},
        )
    elif derived.rebuild == "closer":
        CLOSERS[derived.table](store, site, keys)
    else:
        return 0
    return _count(store, derived.table, where, params)


def erase(
    store: Store,
    site: str,
    kind: Literal["uid", "sid"],
    value: str,
    *,
    by: str,
    hashed: bool = False,
) -> Erasure:
    """Erase every session of a person (`value` is the uid or sid, or with `hashed` its
    `subject_hash`, as a restore redoes it) and rebuild what they fed; logged."""
    subject = value if hashed else subject_hash(site, kind, value)
    sids = _sessions_of(store, site, kind, value, hashed=hashed)
    where = "site_id = {site:String} AND sid IN {sids:Array(String)}"
    params: dict[str, Any] = {"site": site, "sids": sids}
    removed: dict[str, int] = {SOURCE: 0}
    rebuilt: dict[str, int] = {}
    sessions = 0
    if sids:
        sessions, removed[SOURCE] = (
            int(v)
            for v in store.rows(
                f"SELECT uniqExact(sid, session_seq), count() FROM {store.table(SOURCE)} "
                f"WHERE {where}",
                params,
            )[0]
        )
    if removed.get(SOURCE):
        keys: dict[str, list[Any]] = {}
        sources = {d.source_key for d in DERIVED} | {d.prune_source for d in DERIVED}
        for source in sorted((sources | {"toDate(ts)"}) - {""}):
            keys[source] = list(
                store.rows(
                    f"SELECT groupUniqArray({source}) FROM {store.table(SOURCE)} WHERE {where}",
                    params,
                )[0][0]
            )
        for derived in DERIVED:
            before = {
                "site": site,
                "keys": keys[derived.source_key],
                "days": keys.get(derived.prune_source, []),
            }
            removed[derived.table] = _count(store, derived.table, _where(derived), before)
        # The derived tables first, from the events but the person's, and the events
        # last: an erasure cut short (the store went away) leaves the person's events in
        # place, so asking again finds them and does it all again.
        for derived in DERIVED:
            days = keys.get(derived.prune_source)
            written = rebuild(store, derived, site, keys[derived.source_key], sids, days)
            if derived.rebuild != "drop":
                rebuilt[derived.table] = written
        # One mutation per month the person was seen in (events are partitioned by month),
        # narrowed to their days (in the sorting key): only parts that may hold them are
        # rewritten, not the whole table.
        months = store.rows(
            f"SELECT DISTINCT {EVENTS_PARTITION} FROM {store.table(SOURCE)} WHERE {where}", params
        )
        for (month,) in months:
            store.command(
                f"ALTER TABLE {store.table(SOURCE)} DELETE IN PARTITION {int(month)} "
                f"WHERE {where} AND toDate(ts) IN {{days:Array(Date)}}",
                {**params, "days": keys["toDate(ts)"]},
                settings=_MUTATION,
            )
        clear_caches()
    return _log(store, site, by, kind, subject, sessions, removed, rebuilt)


def delete_site(store: Store, site: str, *, by: str) -> Erasure:
    """Remove every row of the site from every table (but the erasure log); logged."""
    tables = [
        row[0]
        for row in store.rows(
            "SELECT DISTINCT c.table FROM system.columns AS c "
            "INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
            "WHERE c.database = {db:String} AND c.name = 'site_id' "
            "AND t.engine LIKE '%MergeTree' ORDER BY c.table",
            {"db": store.db},
        )
        if row[0] not in KEPT
    ]
    params = {"site": site}
    removed: dict[str, int] = {}
    for table in tables:
        removed[table] = _count(store, table, "site_id = {site:String}", params)
        if removed[table]:
            store.command(
                f"ALTER TABLE {store.table(table)} DELETE WHERE site_id = {{site:String}}",
                params,
                settings=_MUTATION,
            )
    clear_caches()
    return _log(store, site, by, "site", subject_hash(site, "site", site), 0, removed, {})


def _log(
    store: Store,
    site: str,
    by: str,
    kind: str,
    subject: str,
    sessions: int,
    removed: dict[str, int],
    rebuilt: dict[str, int],
) -> Erasure:
    at = _now()
    store.command(
        f"INSERT INTO {store.table('erasures')} "
        "(site_id, at, by, kind, subject_hash, sessions, removed, rebuilt) VALUES "
        "({site:String}, {at:DateTime64(3, 'UTC')}, {by:String}, {kind:String}, "
        "{subject:String}, {sessions:UInt64}, "
        "mapFromArrays({removed_k:Array(String)}, {removed_v:Array(UInt64)}), "
        "mapFromArrays({rebuilt_k:Array(String)}, {rebuilt_v:Array(UInt64)}))",
        {
            "site": site,
            "at": at,
            "by": by,
            "kind": kind,
            "subject": subject,
            "sessions": sessions,
            "removed_k": list(removed),
            "removed_v": list(removed.values()),
            "rebuilt_k": list(rebuilt),
            "rebuilt_v": list(rebuilt.values()),
        },
    )
    return Erasure(
        site,
        at.isoformat(timespec="milliseconds") + "Z",
        by,
        kind,
        subject,
        sessions,
        removed,
        rebuilt,
    )


def list_erasures(store: Store, site: str, limit: int = 100) -> list[Erasure]:
    rows = store.rows(
        "SELECT site_id, at, by, kind, subject_hash, sessions, removed, rebuilt "
        f"FROM {store.table('erasures')} WHERE site_id = {{site:String}} "
        "ORDER BY at DESC LIMIT {limit:UInt32}",
        {"site": site, "limit": limit},
    )
    return [
        Erasure(
            r[0],
            r[1].replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z",
            r[2],
            r[3],
            r[4],
            int(r[5]),
            dict(r[6]),
            dict(r[7]),
        )
        for r in rows
    ]
