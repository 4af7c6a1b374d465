"""A Philly sample cut by submit date from the bundled trace, written once per session: tests read
a few thousand rows instead of parsing all 52,849."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

BUNDLED = Path(__file__).resolve().parents[2] / "src" / "kaon" / "data" / "traces" / "philly-2017-09-10.csv.gz"


def philly_before(directory: Path, end_date: str, start_date: str = "") -> Path:
    """Rows with start_date <= timestamp < end_date (ISO strings compare as dates)."""
    out = directory / f"philly-{start_date or 'start'}-{end_date}.csv"
    with gzip.open(BUNDLED, "rt") as f:
        header = f.readline()
        rows = [line for line in f if start_date <= line[:10] < end_date]
    out.write_text(header + "".join(rows))
    return out


@pytest.fixture(scope="session")
def philly_to_oct11(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return philly_before(tmp_path_factory.mktemp("philly"), "2017-10-11")


@pytest.fixture(scope="session")
def philly_oct_week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return philly_before(tmp_path_factory.mktemp("philly"), "2017-10-09", "2017-10-05")
