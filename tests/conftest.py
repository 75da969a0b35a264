"""Shared fixtures: a real Beacon server, and the embedded store for in-process tests.

chdb allows one engine per process, bound to one path: the whole test process shares
one engine under a session temporary directory, and each test that needs a clean store
gets a database of its own (`store`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.store.client import Store
from app.store.migrate import apply_migrations
from tests.support import BeaconProcess


@pytest.fixture(scope="session")
def beacon_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeaconProcess]:
    """One Beacon subprocess shared by the session's black-box tests."""
    server = BeaconProcess(tmp_path_factory.mktemp("beacon") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def settings(engine_dir: Path, tmp_path: Path) -> Settings:
    """Settings for an in-process store: the shared engine, a fresh database."""
    return Settings(
        data_dir=str(engine_dir),
        database="t_" + uuid.uuid4().hex[:12],
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings)
    apply_migrations(store, retention_days=settings.retention_days)
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.db}")
