"""A preempted PyTorch training job resumes from its checkpoint and ends as if never stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service.preempted_training import check_resumed, preempt_and_resume, uninterrupted

pytest.importorskip("torch")


def test_a_preempted_trainer_resumes_where_it_stopped(tmp_path: Path) -> None:
    reference = uninterrupted(tmp_path)
    run = preempt_and_resume(tmp_path, ["--gpus", "1", "--gpu-type", "v100"], gpus=1)
    out, _ = reference.communicate(timeout=300)
    assert reference.returncode == 0
    check_resumed(run)
    assert run.log[-1] == out.splitlines()[-1]  # same loss and weights, to the printed digit
