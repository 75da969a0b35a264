"""The `beacon` command line: serve, worker, migrate, site add/list/origins/update/delete,
token, share add/list/revoke, erase, erasures, backup, restore, demo, bench (ingest,
queries, triage, scale, alerts, dashboard), cluster-ddl.

Settings come from `BEACON_*` variables; the few flags here override them. Site and
token commands go to the running server's admin socket when one owns the embedded
store (`app/admin.py`), and open the store directly otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from app.admin import AdminCommands, AdminRequest, call_running_server
from app.config import Settings

__all__ = ["main"]


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=getattr(args, "data_dir", None),
    )


def _admin(settings: Settings, request: AdminRequest) -> dict[str, Any]:
    if settings.embedded:
        result = call_running_server(settings.admin_socket, request)
        if result is not None:
            return result
    from app.lifecycle.service import Lifecycle
    from app.store.client import Store
    from app.store.migrate import apply_migrations
    from app.store.sites import SiteStore
    from app.web.shares import ShareStore

    store = Store.open(settings)
    apply_migrations(store, retention_days=settings.retention_days)
    sites = SiteStore(store)
    lifecycle = Lifecycle.offline(settings, store, sites)
    try:
        return AdminCommands(sites, share_keys=ShareStore(store), lifecycle=lifecycle).run(request)
    finally:
        lifecycle.close()


def _who() -> str:
    import getpass

    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _uvicorn_options() -> dict[str, Any]:
    return {
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 20,
        "server_header": False,
        # The client address comes from BEACON_CLIENT_IP_HEADER when a proxy is trusted
        # (app/ingest/routes.py); uvicorn's own X-Forwarded-For parsing would only repeat it.
        "proxy_headers": False,
    }


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.logs import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_level)
    workers = getattr(args, "workers", None) or 1
    if settings.scale:
        return _serve_scale_ingest(settings, workers)
    if workers > 1:
        raise ValueError(
            "--workers needs scale mode (BEACON_REDIS_URL): embedded ClickHouse allows one "
            "process per data directory"
        )
    from app.server import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **_uvicorn_options())
    return 0


def _serve_scale_ingest(settings: Settings, workers: int) -> int:
    """Scale mode: stateless ingest processes; several share the port with --workers."""
    import os

    import uvicorn

    if workers == 1:
        from app.scale.ingest_app import create_ingest_app

        uvicorn.run(
            create_ingest_app(settings),
            host=settings.host,
            port=settings.port,
            **_uvicorn_options(),
        )
        return 0
    # uvicorn's worker processes build the app from the environment: pass the flags on.
    os.environ.update({"BEACON_HOST": settings.host, "BEACON_PORT": str(settings.port)})
    uvicorn.run(
        "app.scale.ingest_app:ingest_app_from_env",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        **_uvicorn_options(),
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """The scale-mode writer: stream → ClickHouse, plus the query API over the store."""
    import uvicorn

    from app.logs import configure_logging
    from app.scale.cache import QueryCache
    from app.server import create_app

    settings = _settings(args)
    if not settings.scale:
        raise ValueError("beacon worker needs BEACON_REDIS_URL (scale mode)")
    configure_logging(settings.log_level)
    app = QueryCache(create_app(settings), settings.query_cache_seconds)
    uvicorn.run(app, host=settings.host, port=settings.port, **_uvicorn_options())
    return 0


def cmd_cluster_ddl(args: argparse.Namespace) -> int:
    from app.scale.cluster import cluster_ddl

    settings = _settings(args)
    ddl = cluster_ddl(args.cluster, db=settings.database, retention_days=settings.retention_days)
    print(ddl.text(), end="")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.store.client import Store
    from app.store.migrate import apply_migrations

    settings = _settings(args)
    if (
        settings.embedded
        and call_running_server(settings.admin_socket, AdminRequest(op="site_list")) is not None
    ):
        print("a running server owns this data directory and migrated it at start-up")
        return 0
    applied = apply_migrations(Store.open(settings), retention_days=settings.retention_days)
    print("applied: " + ", ".join(applied) if applied else "the schema is up to date")
    return 0


def cmd_site_add(args: argparse.Namespace) -> int:
    result = _admin(
        _settings(args),
        AdminRequest(
            op="site_add",
            domain=args.domain,
            origins=args.origin,
            retention_days=args.retention_days,
            rollup_retention_days=args.rollup_retention_days,
        ),
    )
    if args.json:
        print(json.dumps({"site": result["site"], "token": result["token"]}))
    else:
        print(f"site key:  {result['site']}\nAPI token: {result['token']}  (shown once)")
        origins = ", ".join(result["origins"]) or "any origin"
        print(f"origins:   {origins}")
    return 0


def cmd_site_list(args: argparse.Namespace) -> int:
    sites = _admin(_settings(args), AdminRequest(op="site_list"))["sites"]
    if args.json:
        print(json.dumps(sites))
    else:
        for site in sites:
            kept = f"events {site['retention_days']}d, rollups {site['rollup_retention_days']}d"
            print(
                f"{site['site_id']}  {site['domain']}  {' '.join(site['origins']) or '*'}  ({kept})"
            )
    return 0


def cmd_site_update(args: argparse.Namespace) -> int:
    if args.retention_days is None and args.rollup_retention_days is None:
        raise ValueError("site update: give --retention-days and/or --rollup-retention-days")
    result = _admin(
        _settings(args),
        AdminRequest(
            op="site_update",
            site=args.site,
            retention_days=args.retention_days,
            rollup_retention_days=args.rollup_retention_days,
        ),
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['site_id']}: events kept {result['retention_days']} days, "
            f"rollups {result['rollup_retention_days']} days (applied to stored data)"
        )
    return 0


def cmd_site_delete(args: argparse.Namespace) -> int:
    result = _admin(
        _settings(args), AdminRequest(op="site_delete", site=args.site, by=args.by or _who())
    )
    print(json.dumps(result) if args.json else f"deleted {args.site}: {result['removed']}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    if bool(args.uid) == bool(args.sid):
        raise ValueError("erase: give either --uid or --sid")
    result = _admin(
        _settings(args),
        AdminRequest(
            op="erase",
            site=args.site,
            uid=args.uid or "",
            sid=args.sid or "",
            by=args.by or _who(),
        ),
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(f"erased {result['sessions']} sessions: removed {result['removed']}")
    return 0


def cmd_erasures(args: argparse.Namespace) -> int:
    result = _admin(_settings(args), AdminRequest(op="erasures", site=args.site))
    if args.json:
        print(json.dumps(result["erasures"]))
    else:
        for entry in result["erasures"]:
            print(
                f"{entry['at']}  {entry['kind']:4}  by {entry['by']}  "
                f"{entry['sessions']} sessions  removed {entry['removed']}"
            )
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    result = _admin(_settings(args), AdminRequest(op="backup", path=args.path))
    print(json.dumps(result) if args.json else f"backed up to {result['path']}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from app.lifecycle.backup import restore

    settings = _settings(args)
    if (
        settings.embedded
        and call_running_server(settings.admin_socket, AdminRequest(op="site_list")) is not None
    ):
        raise ValueError("a server owns this data directory: stop it before restoring")
    report = restore(settings, args.path)
    print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0


def cmd_site_origins(args: argparse.Namespace) -> int:
    result = _admin(
        _settings(args), AdminRequest(op="site_origins", site=args.site, origins=args.origin)
    )
    print(json.dumps(result) if args.json else " ".join(result["origins"]) or "any origin")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    result = _admin(_settings(args), AdminRequest(op="token_add", site=args.site))
    print(json.dumps(result) if args.json else result["token"])
    return 0


def cmd_share_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    result = _admin(settings, AdminRequest(op="share_add", site=args.site, label=args.label))
    base = (args.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    result["url"] = f"{base}/share/{result['site_id']}?auth={result['key']}"
    if args.json:
        print(json.dumps(result))
    else:
        print(f"shared link: {result['url']}  (shown once)\nkey id:      {result['key_id']}")
    return 0


def cmd_share_list(args: argparse.Namespace) -> int:
    keys = _admin(_settings(args), AdminRequest(op="share_list", site=args.site or ""))["keys"]
    if args.json:
        print(json.dumps(keys))
    else:
        for key in keys:
            state = "revoked" if key["revoked"] else "active"
            print(f"{key['key_id']}  {key['site_id']}  {state}  {key['created_at']}", key["label"])
    return 0


def cmd_share_revoke(args: argparse.Namespace) -> int:
    result = _admin(_settings(args), AdminRequest(op="share_revoke", key_id=args.key_id))
    print(json.dumps(result) if args.json else f"revoked {result['key_id']} ({result['site_id']})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.bench.demo import run_demo

    settings = _settings(args)
    args.url = args.url or f"http://127.0.0.1:{settings.port}"

    def create_site() -> tuple[str, str]:
        result = _admin(settings, AdminRequest(op="site_add", domain="demo.test"))
        return result["site"], result["token"]

    return run_demo(args, create_site)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beacon", description="Beacon real-user monitoring")
    parser.add_argument("--data-dir", help="data directory (BEACON_DATA_DIR, default ./data)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="bind address (BEACON_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (BEACON_PORT, default 8000)")
    serve.add_argument(
        "--workers", type=int, help="ingest processes sharing the port (scale mode only)"
    )
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser(
        "worker", help="scale mode: write the Redis Stream into ClickHouse and serve queries"
    )
    worker.add_argument("--host", help="bind address (BEACON_HOST, default 127.0.0.1)")
    worker.add_argument("--port", type=int, help="port of the query API (BEACON_PORT)")
    worker.set_defaults(func=cmd_worker)

    ddl = commands.add_parser(
        "cluster-ddl", help="print the ClickHouse cluster DDL derived from sql/"
    )
    ddl.add_argument("--cluster", required=True, help="cluster name in remote_servers")
    ddl.set_defaults(func=cmd_cluster_ddl)

    commands.add_parser("migrate", help="apply pending schema migrations").set_defaults(
        func=cmd_migrate
    )

    site = commands.add_parser("site", help="manage sites").add_subparsers(
        dest="site_command", required=True
    )
    add = site.add_parser("add", help="add a site and print its key and API token")
    add.add_argument("domain")
    add.add_argument(
        "--origin",
        action="append",
        default=[],
        help="allowed page origin, e.g. https://example.com (repeatable)",
    )
    add.add_argument("--retention-days", type=int, help="keep raw events N days")
    add.add_argument("--rollup-retention-days", type=int, help="keep rollups N days")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_site_add)
    update = site.add_parser("update", help="change a site's retention (applies to stored data)")
    update.add_argument("site")
    update.add_argument("--retention-days", type=int, help="keep raw events N days (0: default)")
    update.add_argument(
        "--rollup-retention-days", type=int, help="keep rollups N days (0: default)"
    )
    update.add_argument("--json", action="store_true")
    update.set_defaults(func=cmd_site_update)
    delete = site.add_parser("delete", help="delete a site and every row of its data (logged)")
    delete.add_argument("site")
    delete.add_argument("--by", help="who asks (logged; default cli:$USER)")
    delete.add_argument("--json", action="store_true")
    delete.set_defaults(func=cmd_site_delete)
    listing = site.add_parser("list", help="list sites")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_site_list)
    origins = site.add_parser("origins", help="replace a site's allowed origins")
    origins.add_argument("site")
    origins.add_argument("--origin", action="append", default=[])
    origins.add_argument("--json", action="store_true")
    origins.set_defaults(func=cmd_site_origins)

    token = commands.add_parser("token", help="create another API token for a site")
    token.add_argument("site")
    token.add_argument("--json", action="store_true")
    token.set_defaults(func=cmd_token)

    share = commands.add_parser(
        "share", help="read-only shared links to a site's dashboard"
    ).add_subparsers(dest="share_command", required=True)
    share_add = share.add_parser("add", help="make a shared link; prints it once")
    share_add.add_argument("site")
    share_add.add_argument("--label", default="", help="a note for `share list`")
    share_add.add_argument(
        "--base-url", help="the dashboard's public URL (default http://BEACON_HOST:BEACON_PORT)"
    )
    share_add.add_argument("--json", action="store_true")
    share_add.set_defaults(func=cmd_share_add)
    share_list = share.add_parser("list", help="list shared links (ids, not keys)")
    share_list.add_argument("site", nargs="?")
    share_list.add_argument("--json", action="store_true")
    share_list.set_defaults(func=cmd_share_list)
    share_revoke = share.add_parser("revoke", help="revoke a shared link by its id")
    share_revoke.add_argument("key_id")
    share_revoke.add_argument("--json", action="store_true")
    share_revoke.set_defaults(func=cmd_share_revoke)
    erase = commands.add_parser("erase", help="erase one person (by uid or sid) from a site")
    erase.add_argument("site")
    erase.add_argument("--uid", help="the user id (every session it appears in goes)")
    erase.add_argument("--sid", help="one session id")
    erase.add_argument("--by", help="who asks (logged; default cli:$USER)")
    erase.add_argument("--json", action="store_true")
    erase.set_defaults(func=cmd_erase)
    erasures = commands.add_parser("erasures", help="the erasure log of a site")
    erasures.add_argument("site")
    erasures.add_argument("--json", action="store_true")
    erasures.set_defaults(func=cmd_erasures)
    backup = commands.add_parser("backup", help="back up the store (ClickHouse BACKUP) to PATH")
    backup.add_argument("path")
    backup.add_argument("--json", action="store_true")
    backup.set_defaults(func=cmd_backup)
    restore = commands.add_parser(
        "restore", help="restore a backup and replay the spool since it (server stopped)"
    )
    restore.add_argument("path")
    restore.add_argument("--json", action="store_true")
    restore.set_defaults(func=cmd_restore)

    demo = commands.add_parser(
        "demo", help="send realistic synthetic traffic to a running server, with ground truth"
    )
    demo.add_argument("--url", help="Beacon's base URL (default http://127.0.0.1:BEACON_PORT)")
    demo.add_argument("--sessions", type=int, default=2000)
    demo.add_argument("--hours", type=int, default=6, help="spread sessions over the last N hours")
    demo.add_argument("--concurrency", type=int, default=16)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--site", help="send to this site (default: a new site demo.test)")
    demo.add_argument("--token", help="the site's API token (with --site)")
    demo.add_argument(
        "--tz",
        help="also check each local day of this IANA zone (traffic centred on its midnight)",
    )
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=cmd_demo)

    benches = commands.add_parser("bench", help="benchmarks").add_subparsers(
        dest="bench_command", required=True
    )
    from app.bench import register as register_benches

    register_benches(benches)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, KeyError, RuntimeError) as exc:
        print(f"beacon: {str(exc).strip(chr(39))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
