"""Colorizing files in worker processes on this machine.

A `FileColorizer` holds one loaded model and colorizes files (read the photo and its
hint image if it has one, colorize, write atomically).  It takes up to `IN_FLIGHT` files at once on threads: one is decoded while
another is in the network and a third is written, and only the network step is
serialised.  `LocalExecutor` runs a batch on N such workers: in this process for one,
else in N spawned processes, each loading the model once; `Dispatch` hands out the files
and gives a dead worker's files to another (Ray's executor uses it too).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_pipes
from dataclasses import dataclass

import torch

from .atomic import remove_stale_temporaries
from .collection import Task
from .errors import TinctError
from .hint_files import load_hint_image
from .inference import load_model
from .io import DEFAULT_MAX_PIXELS, load_image, save_image

__all__ = ["BatchSettings", "Outcome", "FileColorizer", "Dispatch", "LocalExecutor", "available_cores", "default_workers", "threads_per_worker"]

# Files one worker holds at once: one decoding, one in the network, one being written.
IN_FLIGHT = 3
# Torch threads a CPU worker is given by default: past about four, one image gains
# little from more threads, and a second process uses the cores better.
THREADS_PER_WORKER = 4
# How often a waiting worker process checks that its parent is still alive, in seconds.
PARENT_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class BatchSettings:
    """How every file of a batch is colorized (as `Colorizer.colorize` takes them)."""

    model: str | None = None
    device: str = "auto"
    working_size: int | None = None
    tile: int | None = None  # None: the model's own
    saturation: float = 1.0
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class Outcome:
    """How one file ended: ``status`` done or failed, ``reason`` naming the file when it failed."""

    task: Task
    status: str
    reason: str = ""
    seconds: float | None = None
    model: str = ""


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(device_type: str, cores: int) -> int:
    """Workers for a batch: one per accelerator, else one per `THREADS_PER_WORKER` cores."""
    return 1 if device_type != "cpu" else max(1, cores // THREADS_PER_WORKER)


def threads_per_worker(workers: int, cores: int) -> int:
    """Torch threads for each of ``workers``, so that threads × workers never exceeds ``cores``."""
    return max(1, cores // workers)


class FileColorizer:
    """One loaded model, colorizing files; `run` may be called from `IN_FLIGHT` threads at once."""

    def __init__(self, settings: BatchSettings, threads: int | None = None) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        self.settings = settings
        self.colorizer = load_model(settings.model, device=settings.device)
        self.model = str(self.colorizer.path)
        self._network = threading.Lock()

    def run(self, task: Task) -> Outcome:
        """Colorize ``task.input`` into ``task.output`` (atomically, folders made as needed), following ``task.hints`` if set."""
        started = time.perf_counter()
        settings = self.settings
        try:
            image = load_image(task.input, max_pixels=settings.max_pixels)
            hints = None if task.hints is None else load_hint_image(task.hints, task.input, image.shape[:2], max_pixels=settings.max_pixels)
            with self._network:
                result = self.colorizer.colorize(image, working_size=settings.working_size, tile=settings.tile, saturation=settings.saturation, hints=hints)
            del image, hints
            task.output.parent.mkdir(parents=True, exist_ok=True)
            save_image(result, task.output)
        except Exception as error:  # one bad file must not stop a batch of thousands
            message = str(error) if isinstance(error, TinctError) else f"{type(error).__name__}: {error}"
            reason = message if str(task.input) in message else f"{task.input}: {message}"
            return Outcome(task, "failed", reason, time.perf_counter() - started, self.model)
        return Outcome(task, "done", "", time.perf_counter() - started, self.model)


class Dispatch:
    """Which worker holds which files, and what is left to hand out.

    Each worker holds at most `IN_FLIGHT` files.  When a worker dies, the files it held go
    back to the queue, unless a file has been tried ``max_tries`` times: then it fails
    (a file that kills every worker that touches it must not take the whole batch down).
    """

    def __init__(self, tasks: Sequence[Task], max_tries: int) -> None:
        self.max_tries = max_tries
        self._waiting: deque[tuple[Task, int]] = deque((task, 0) for task in tasks)
        self._held: dict[Hashable, dict[Task, int]] = {}

    def next_for(self, worker: Hashable) -> Task | None:
        """A file for ``worker`` to start, or None if it holds enough or nothing is left."""
        held = self._held.setdefault(worker, {})
        if len(held) >= IN_FLIGHT or not self._waiting:
            return None
        task, tries = self._waiting.popleft()
        held[task] = tries + 1
        return task

    def finished(self, worker: Hashable, task: Task) -> bool:
        """Mark ``task`` finished; False if ``worker`` no longer held it (it was declared dead)."""
        return self._held.get(worker, {}).pop(task, None) is not None

    def worker_died(self, worker: Hashable, cause: str) -> list[Outcome]:
        """Requeue the dead worker's files (minus what it half-wrote); those out of tries come back as failures."""
        held = self._held.pop(worker, {})
        for task in held:
            remove_stale_temporaries(task.output.parent, task.output.name)
        failures = [Outcome(task, "failed", f"{task.input}: its worker died {tries} times while colorizing it ({cause})") for task, tries in held.items() if tries >= self.max_tries]
        self._waiting.extendleft(reversed([(task, tries) for task, tries in held.items() if tries < self.max_tries]))
        return failures

    @property
    def busy(self) -> bool:
        return bool(self._waiting) or any(self._held.values())


def _worker_process(settings: BatchSettings, threads: int, tasks: multiprocessing.Queue, results: Connection) -> None:
    """A worker process: load the model, then colorize the files sent until ``None`` comes.

    Results go back on the worker's own pipe (a queue shared by the workers has a lock that
    a worker killed mid-write would hold for ever).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the workers
    parent = os.getppid()
    sending = threading.Lock()

    def send(message: tuple) -> None:
        with sending:
            results.send(message)

    try:
        files = FileColorizer(settings, threads)
    except TinctError as error:
        send(("error", str(error)))
        return
    send(("ready", None))
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        while True:
            try:
                task = tasks.get(timeout=PARENT_CHECK_SECONDS)
            except queue.Empty:
                if os.getppid() != parent:  # the batch was killed: stop rather than linger
                    os._exit(1)
                continue
            if task is None:
                return
            pool.submit(files.run, task).add_done_callback(lambda future: send(("outcome", future.result())))


class LocalExecutor:
    """Runs a batch on ``workers`` workers on this machine, ``threads`` torch threads each."""

    def __init__(self, settings: BatchSettings, workers: int, threads: int, max_tries: int = 3) -> None:
        self.settings = settings
        self.workers = workers
        self.threads = threads
        self.max_tries = max_tries

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        """Colorize ``tasks``, yielding each outcome as it finishes (in no particular order)."""
        if not tasks:
            return
        if self.workers == 1:
            yield from self._run_here(tasks)
        else:
            yield from self._run_in_processes(tasks)

    def _run_here(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        files = FileColorizer(self.settings, self.threads)
        pending = iter(tasks)
        running: set[Future] = set()
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            while True:
                for task in pending:
                    running.add(pool.submit(files.run, task))
                    if len(running) >= IN_FLIGHT:
                        break
                if not running:
                    return
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()

    def _run_in_processes(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        context = multiprocessing.get_context("spawn")  # forking a process that holds torch threads is unsafe
        dispatch = Dispatch(tasks, self.max_tries)
        inboxes: dict[int, multiprocessing.Queue] = {}
        processes: dict[int, multiprocessing.process.BaseProcess] = {}
        pipes: dict[Connection, int] = {}

        def start(index: int) -> None:
            inboxes[index] = context.Queue()
            reader, writer = context.Pipe(duplex=False)
            processes[index] = context.Process(target=_worker_process, args=(self.settings, self.threads, inboxes[index], writer), name=f"tinct-worker-{index}", daemon=True)
            processes[index].start()
            writer.close()  # the worker holds the only writing end now: its death reads as end-of-file
            pipes[reader] = index

        try:
            for index in range(self.workers):
                start(index)
            started = self.workers
            while dispatch.busy:
                for reader in wait_for_pipes(list(pipes)):
                    index = pipes[reader]
                    try:
                        kind, payload = reader.recv()
                    except (EOFError, OSError):
                        # The worker died (killed, out of memory) after sending all it had sent:
                        # the files it still held go to a fresh worker.
                        del pipes[reader]
                        process = processes.pop(index)
                        process.join()
                        yield from dispatch.worker_died(index, f"exit status {process.exitcode}")
                        if not dispatch.busy:
                            continue
                        if started >= self.workers * (self.max_tries + 1):
                            raise TinctError(f"tinct's worker processes keep dying (the last with exit status {process.exitcode}); run with fewer --workers or a smaller --working-size")
                        start(started)
                        started += 1
                        continue
                    if kind == "error":
                        raise TinctError(payload)
                    if kind == "outcome" and dispatch.finished(index, payload.task):
                        yield payload
                    while (task := dispatch.next_for(index)) is not None:
                        inboxes[index].put(task)
        finally:
            for index, process in processes.items():
                if process.is_alive():
                    inboxes[index].put(None)
            for process in processes.values():
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()
