"""Quota files: parsing, errors that name file and field, binding to a cluster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kaon.quota.quotas import UNLIMITED, QuotaError, TypeQuota, load_quotas


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quotas.yaml"
    path.write_text(text)
    return path


def test_load_and_bind(tmp_path: Path, tiny_cluster) -> None:
    path = _write(
        tmp_path,
        "queues:\n  research: {v100: {nominal: 8, borrowing_limit: 8, lending_limit: 4}}\n  prod: {v100: {nominal: 4}}\n",
    )
    book = load_quotas(path)
    assert book.queues["research"]["v100"] == TypeQuota(8, 8, 4)
    assert book.queues["prod"]["v100"] == TypeQuota(4, None, None)
    bound = book.bind(tiny_cluster(types=("v100", "k80")))
    assert bound.queues == ("prod", "research")
    # rows: prod, research, then the implicit best-effort row for unlisted queues
    assert bound.nominal[:, 0].tolist() == [4, 8, 0]
    assert bound.lendable[:, 0].tolist() == [4, 4, 0]
    assert bound.ceiling[1, 0] == 16 and bound.ceiling[0, 0] == UNLIMITED
    assert bound.nominal[:, 1].tolist() == [0, 0, 0]  # k80 is not listed: nothing guaranteed
    assert bound.row("unknown") == 2
    usage = np.zeros_like(bound.nominal)
    assert bound.admits(usage, 2, 0, 8)  # best effort may borrow all that is lendable
    assert not bound.admits(usage, 2, 0, 9)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("queues: {a: {v100: {nominal: -1}}}\n", "queues.a.v100.nominal"),
        ("queues: {a: {v100: {nominal: 2, borrowing_limt: 1}}}\n", "queues.a.v100.borrowing_limt: unknown field"),
        ("queues: {a: {v100: {borrowing_limit: 1}}}\n", "queues.a.v100.nominal: missing"),
        ("queues: {a: {v100: {nominal: 2, lending_limit: 1.5}}}\n", "queues.a.v100.lending_limit"),
        ("queues: {a: {v100: 3}}\n", "queues.a.v100: expected a mapping"),
        ("queues: {}\n", "queues: expected a non-empty mapping"),
        ("queue: {}\n", "exactly one key `queues`"),
        ("queues: [\n", "not valid YAML"),
        ("queues: {a: {v100: {nominal: 100000000000000000000}}}\n", "queues.a.v100.nominal: must be a whole number"),
        ("queues: {a: {v100: {nominal: 1, 5: 2, foo: 1}}}\n", "queues.a.v100.5: unknown field"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(QuotaError) as err:
        load_quotas(path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_unknown_gpu_type_is_an_error_at_bind(tmp_path: Path, tiny_cluster) -> None:
    path = _write(tmp_path, "queues: {a: {h100: {nominal: 2}}}\n")
    with pytest.raises(QuotaError, match=r"queues\.a\.h100: GPU type 'h100' is not in cluster"):
        load_quotas(path).bind(tiny_cluster())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(QuotaError, match="cannot read"):
        load_quotas(tmp_path / "nope.yaml")
