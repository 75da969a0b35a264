"""`beacon bench …` is wired from the modules of app/bench/ (each registers its own)."""

from __future__ import annotations

import pytest

from app.bench import BENCHES
from app.cli import build_parser


def test_every_bench_module_registers_its_command() -> None:
    parser = build_parser()
    for name in BENCHES:
        args = parser.parse_args(["bench", name])
        assert callable(args.func), name
    args = parser.parse_args(["bench", "ingest", "--mix", "repeat", "--rate", "2000",
                              "--seconds", "300"])  # fmt: skip
    assert (args.mix, args.rate, args.seconds) == ("repeat", 2000.0, 300.0)
    args = parser.parse_args(["bench", "queries", "--tz", "Asia/Kolkata", "--reuse", "/x"])
    assert (args.tz, args.reuse) == ("Asia/Kolkata", "/x")
    assert parser.parse_args(["bench", "scale"]).mix == "realistic"
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "ingest", "--mix", "nonsense"])
