"""Running a batch on a Ray cluster: a pool of long-lived actors, each holding one model.

Every actor is a `FileColorizer` (CPU, or one GPU when the device is CUDA); the driver
streams file paths to the actors, `IN_FLIGHT` at a time each, and the actors read and
write the files themselves, so inputs and outputs must be on storage every node sees at
the same path.  An actor that dies has its files retried on the others (`Dispatch`).
Ray is optional: ``pip install 'tinct[cluster]'``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from .batch_workers import IN_FLIGHT, THREADS_PER_WORKER, BatchSettings, Dispatch, FileColorizer, Outcome, available_cores
from .collection import Task
from .errors import TinctError

__all__ = ["ColorizeActor", "RayExecutor", "import_ray"]

INSTALL_HINT = "pip install 'tinct[cluster]'"


def import_ray() -> Any:
    """The ``ray`` module, or a `TinctError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise TinctError(f"--ray needs Ray, which is not installed in this environment; {INSTALL_HINT}") from None
    return ray


class ColorizeActor:
    """A Ray actor's state: one `FileColorizer` (the class is made remote by `RayExecutor`)."""

    def __init__(self, settings: BatchSettings, threads: int) -> None:
        self.files = FileColorizer(settings, threads)

    def ready(self) -> int:
        """The actor's process id, once its model is loaded."""
        return os.getpid()

    def run(self, task: Task) -> Outcome:
        return self.files.run(task)


class RayExecutor:
    """Runs a batch on the Ray cluster at ``address``: ``ray://host:10001``, ``auto``, or ``local``.

    ``local`` starts a Ray instance inside this process, on this machine's cores.
    ``actors`` defaults to one per GPU of the cluster when the device is CUDA (or auto and
    the cluster has GPUs), else one per `THREADS_PER_WORKER` CPUs.
    """

    def __init__(self, address: str, settings: BatchSettings, actors: int | None = None, max_tries: int = 3) -> None:
        self.ray = import_ray()
        self.address = address
        self.settings = settings
        self.actors = actors
        self.max_tries = max_tries

    def _connect(self) -> None:
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": "warning"}
        try:
            if self.address == "local":
                # Room for every asked-for actor even on a small machine (they then share cores).
                self.ray.init(include_dashboard=False, num_cpus=max(available_cores(), self.actors or 1), **options)
            else:
                self.ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise TinctError(f"cannot reach the Ray cluster at {self.address!r}: {error}") from None

    def _start_actors(self) -> list[Any]:
        resources = self.ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        device = self.settings.device
        on_gpu = device.startswith("cuda") or (device == "auto" and gpus > 0)
        if on_gpu and gpus == 0:
            raise TinctError("--device cuda was asked for but the Ray cluster has no GPUs; use --device cpu or auto")
        count = self.actors or (gpus if on_gpu else max(1, cpus // THREADS_PER_WORKER))
        if count > (gpus if on_gpu else cpus):
            # Ray would wait for ever for room to start the rest.
            raise TinctError(f"the Ray cluster has room for {gpus if on_gpu else cpus} workers ({gpus} GPUs, {cpus} CPUs), not {count}; lower --workers")
        threads = max(1, min(THREADS_PER_WORKER, cpus // count))
        settings = replace(self.settings, device="cuda" if on_gpu else "cpu" if device == "auto" else device)
        actor_class = self.ray.remote(ColorizeActor).options(num_cpus=threads, num_gpus=1 if on_gpu else 0, max_concurrency=IN_FLIGHT, max_restarts=0)
        actors = [actor_class.remote(settings, threads) for _ in range(count)]
        try:
            self.ray.get([actor.ready.remote() for actor in actors])
        except self.ray.exceptions.RayActorError as error:
            raise TinctError(f"a Ray worker could not start: {error}") from None
        return actors

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        """Colorize ``tasks`` on the cluster, yielding each outcome as it finishes."""
        if not tasks:
            return
        ray = self.ray
        self._connect()
        try:
            actors = dict(enumerate(self._start_actors()))
            dispatch = Dispatch(tasks, self.max_tries)
            calls: dict[Any, tuple[int, Task]] = {}

            def feed(index: int) -> None:
                while (task := dispatch.next_for(index)) is not None:
                    calls[actors[index].run.remote(task)] = (index, task)

            for index in actors:
                feed(index)
            while calls:
                [ref], _ = ray.wait(list(calls), num_returns=1)
                index, task = calls.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayActorError as error:
                    if index in actors:
                        # The actor died: keep what it finished, hand the rest of its files to the others.
                        del actors[index]
                        orphans = [call for call, (owner, _) in calls.items() if owner == index]
                        finished, _ = ray.wait(orphans, num_returns=len(orphans), timeout=0) if orphans else ([], [])
                        for other in orphans:
                            _, other_task = calls.pop(other)
                            if other in finished:
                                try:
                                    result = ray.get(other)
                                except ray.exceptions.RayError:
                                    continue
                                dispatch.finished(index, other_task)
                                yield result
                        yield from dispatch.worker_died(index, type(error).__name__)
                        if not actors and dispatch.busy:
                            raise TinctError("every Ray worker died; check the cluster, then run the same command again to resume") from None
                        for other in actors:
                            feed(other)
                    continue
                if dispatch.finished(index, task):
                    yield outcome
                feed(index)
        finally:
            ray.shutdown()
