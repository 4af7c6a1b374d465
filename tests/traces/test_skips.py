"""Skip records: one shape for every reader, grouped by reason without per-row values."""

from __future__ import annotations

from kaon.traces.base import RowErrors, TraceFormatError
from kaon.traces.skips import note, reason_of


def test_note_is_recorded_even_without_skip_bad() -> None:
    errors = RowErrors(skip_bad=False)
    note(errors, "a/b.csv", 7, "CPU-only pod (num_gpu=0)")
    assert errors.skipped == ["a/b.csv:7: CPU-only pod (num_gpu=0)"]
    assert reason_of(errors.skipped[0]) == "CPU-only pod (num_gpu=0)"


def test_field_errors_group_by_field_and_cause() -> None:
    one = str(TraceFormatError("x.csv", 3, "num_gpus", "cannot parse 'two': invalid literal"))
    two = str(TraceFormatError("x.csv", 9, "num_gpus", "cannot parse 'many': invalid literal"))
    assert reason_of(one) == reason_of(two) == "field 'num_gpus': cannot parse …: invalid literal"
    assert reason_of(str(TraceFormatError("C:/t.csv", 4, "x", "missing value"))) == "field 'x': missing value"
