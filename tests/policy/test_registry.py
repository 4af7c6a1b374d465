"""Policy specs: `name:key=value,...`, and a class's positional first value."""

from __future__ import annotations

import pytest

from kaon.policy.base import PolicyParamError
from kaon.policy.registry import make_policy


def test_keyed_values_are_converted() -> None:
    policy = make_policy("las:lease=90")
    assert policy.name == "las" and policy.lease == 90.0  # type: ignore[attr-defined]


def test_a_positional_value_is_the_classes_positional_parameter(tmp_path) -> None:  # noqa: ANN001
    missing = tmp_path / "no-model"
    for spec in (f"learned:{missing}", f"learned:path={missing}"):
        with pytest.raises(PolicyParamError, match="no-model"):
            make_policy(spec)  # both name the directory they tried


def test_only_the_first_value_may_omit_its_key() -> None:
    with pytest.raises(PolicyParamError, match=r"'b' must be key=value \(only the first may omit its key, path\)"):
        make_policy("learned:a,b")
    with pytest.raises(PolicyParamError, match=r"parameter 'x' must be key=value$"):
        make_policy("fifo-backfill:x")
