"""Settings come from BEACON_* variables, and the README documents every one."""

from __future__ import annotations

import re

import pytest

from app.config import ENV_PREFIX, Settings
from tests.support import REPO


def test_environment_variables_are_typed() -> None:
    settings = Settings.from_env(
        {"BEACON_PORT": "9001", "BEACON_SPOOL_FSYNC": "false", "BEACON_DATA_DIR": "/srv/b"}
    )
    assert settings.port == 9001
    assert settings.spool_fsync is False
    assert str(settings.spool_path) == "/srv/b/spool"
    assert settings.embedded


def test_overrides_win_over_the_environment() -> None:
    assert Settings.from_env({"BEACON_PORT": "9001"}, port=9002).port == 9002


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="BEACON_PORT"):
        Settings.from_env({"BEACON_PORT": "eighty"})


def test_readme_documents_every_setting_and_no_other() -> None:
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `(BEACON_[A-Z_]+)` \|", readme, re.M))
    in_code = {ENV_PREFIX + name.upper() for name in Settings.__struct_fields__}
    assert documented == in_code
