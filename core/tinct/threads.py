"""Running many small torch computations side by side on the CPU's cores."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_threads(function: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
    """``map(function, items)`` on one thread per torch CPU thread, results in order.

    Small tensors (cache-sized chunks of an image) are processed fastest one per core;
    torch's own intra-op threads are turned off meanwhile so the two do not compete, and
    restored afterwards.
    """
    threads = torch.get_num_threads()
    items = list(items)
    if threads == 1 or len(items) <= 1:
        yield from map(function, items)
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads) as pool:
            yield from pool.map(function, items)
    finally:
        torch.set_num_threads(threads)
