"""References for batch outputs, made at the torch thread count of the executor under test.

The network's output moves by about 1e-5 between torch thread counts, which now and then
flips an 8-bit rounding.  A batch output is compared pixel for pixel with a single-file
``tinct colorize`` reference, so the reference must come from the same thread count as
the executor that made the output: `per_thread_count` makes it once per count, and the
other functions say the count each executor gives its workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from tinct.batch_workers import THREADS_PER_WORKER, available_cores, default_workers, threads_per_worker

Made = TypeVar("Made")


def in_process_threads() -> int:
    """Torch threads of the in-process worker of a CPU batch with no ``--workers``."""
    cores = available_cores()
    return threads_per_worker(default_workers("cpu", cores), cores)


def worker_threads(workers: int) -> int:
    """Torch threads of each worker under ``--workers N`` on the CPU."""
    return threads_per_worker(workers, available_cores())


def ray_threads(actors: int) -> int:
    """Torch threads of each of ``actors`` Ray actors under ``--ray local`` (as `RayExecutor` gives them)."""
    return min(THREADS_PER_WORKER, threads_per_worker(actors, available_cores()))


def per_thread_count(make: Callable[[int], Made]) -> Callable[[int], Made]:
    """``at(threads)``: ``make(threads)`` run with torch set to ``threads`` threads, once per count (then remembered).

    The caller's thread count is restored afterwards.
    """
    made: dict[int, Made] = {}

    def at(threads: int) -> Made:
        if threads not in made:
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                made[threads] = make(threads)
            finally:
                torch.set_num_threads(previous)
        return made[threads]

    return at
