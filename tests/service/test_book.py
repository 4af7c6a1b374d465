"""`JobBook.plan_starts`: a decision's starts checked in order, with the devices each would get,
and nothing taken until the loop has persisted them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kaon.core.placement import Placement
from kaon.executors.inventory import configured
from kaon.service.book import JobBook
from kaon.store.records import NewJob
from kaon.store.repo import JobStore


def _book(tmp_path: Path, gpus: int, sizes: list[int]) -> tuple[JobBook, list]:
    store = JobStore.open(f"sqlite:///{tmp_path / 'kaon.db'}")
    records = store.add_jobs([NewJob(("true",), g, 60.0) for g in sizes], time.time(), tmp_path)
    store.close()
    book = JobBook(configured(gpus, "v100"))
    return book, [book.add(r) for r in records]


def test_starts_are_planned_in_order_against_what_the_earlier_ones_take(tmp_path: Path) -> None:
    book, (a, b, c) = _book(tmp_path, 4, [2, 2, 1])
    one = Placement(0, (0,), (2,))
    free = book.capacity.free.copy()
    planned = book.plan_starts([(a, one), (a, one), (b, one), (c, Placement(0, (0,), (1,)))])
    assert [(job, grant.devices) for job, _, grant in planned] == [(a, (0, 1)), (b, (2, 3))]
    # nothing taken: the same devices are free, and the loop claims them after persisting
    assert np.array_equal(book.capacity.free, free) and book.pool.free_devices(0) == (0, 1, 2, 3)
    for job, p, grant in planned:
        book.launch(job, p, grant, 0.0)
    assert book.pool.free_devices(0) == () and set(book.running) == {a.job_id, b.job_id}
    assert book.plan_starts([(a, one), (c, Placement(0, (0,), (1,)))]) == []
