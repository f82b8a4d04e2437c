"""Colorizing a collection: plan, run on local workers or a Ray cluster, journal, summarise.

`run_batch` is what ``tinct colorize FOLDER --out-dir OUT [--hints FOLDER]`` runs.  It
resumes by construction: an image whose output exists is not done again (unless
``force``), and every file's outcome is appended to the journal in the output folder as
it finishes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .batch_workers import BatchSettings, LocalExecutor, available_cores, default_workers, threads_per_worker
from .collection import OUTPUT_FORMATS, plan_collection
from .devices import resolve_device
from .errors import TinctError
from .hint_files import HintFolder
from .io import READ_SUFFIXES
from .journal import Journal, JournalEntry

__all__ = ["BatchSettings", "BatchSummary", "run_batch", "add_batch_options", "wants_batch", "run_batch_command"]

# Tries per file before it is journaled as failed, when its worker dies under it.
MAX_TRIES = 3
NOT_AN_IMAGE = "not an image file tinct reads (" + ", ".join(sorted(READ_SUFFIXES)) + ")"


@dataclass
class BatchSummary:
    """Counts of one run: files colorized (``hinted`` of them with a hint image), failed,
    skipped (not images), and already done before."""

    done: int = 0
    hinted: int = 0
    failed: int = 0
    skipped: int = 0
    already_done: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.done} done{f' ({self.hinted} with hints)' if self.hinted else ''}, {self.failed} failed, "
            f"{self.skipped} skipped (not images), {self.already_done} already done; "
            f"{self.images_per_second:.2f} images/s over {self.seconds:.1f} s"
        )


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(path))


def run_batch(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: BatchSettings = BatchSettings(),
    *,
    recursive: bool = False,
    output_format: str = "same",
    force: bool = False,
    workers: int | None = None,
    ray_address: str | None = None,
    hints: str | os.PathLike[str] | None = None,
    progress: bool = False,
    report: Callable[[str], None] = lambda message: None,
) -> BatchSummary:
    """Colorize every image the inputs (files and folders) name into ``out_dir``, mirroring paths.

    ``workers``: local worker processes (default: see `default_workers`), or with
    ``ray_address`` the number of Ray actors.  ``hints``: a folder of hint images that
    mirrors the inputs (see `tinct.hint_files`); an image without one there is colorized
    automatically.  ``report`` receives one line per failed file.  Raises `TinctError`
    when the batch cannot run at all (bad model, no Ray, no such hint folder, a second
    batch writing into ``out_dir``).
    """
    out_dir = _absolute(out_dir)
    hint_folder = None if hints is None else HintFolder(_absolute(hints))  # workers elsewhere have another working folder
    with Journal(out_dir) as journal:  # first: the lock keeps a second batch from planning over this one
        plan = plan_collection(
            [_absolute(item) for item in inputs], out_dir, recursive=recursive, output_format=output_format, force=force, hints=hint_folder
        )
        summary = BatchSummary(already_done=len(plan.done))
        known = journal.latest

        def record(entry: JournalEntry) -> None:
            previous = known.get((entry.input, entry.output))
            if entry.status == "failed":
                report(entry.reason)
            if entry.seconds is not None or previous is None or (previous.status, previous.reason) != (entry.status, entry.reason):
                journal.append(entry)

        for path in plan.not_images:
            summary.skipped += 1
            record(JournalEntry(str(path), "", "skipped", NOT_AN_IMAGE))
        for task, reason in plan.rejected:
            summary.failed += 1
            record(JournalEntry(str(task.input), str(task.output), "failed", reason))
        for task in plan.done:
            previous = known.get((str(task.input), str(task.output)))
            if previous is None or previous.status != "done":
                # Finished by a run killed before it could journal it, or by someone else.
                record(JournalEntry(str(task.input), str(task.output), "done", "its output already existed"))
        if ray_address is not None:
            from .ray_executor import RayExecutor

            executor = RayExecutor(ray_address, settings, actors=workers, max_tries=MAX_TRIES)
        else:
            cores = available_cores()
            count = workers or default_workers(resolve_device(settings.device).type, cores)
            executor = LocalExecutor(settings, count, threads_per_worker(count, cores), max_tries=MAX_TRIES)
        started = time.perf_counter()
        with tqdm(total=len(plan.pending), unit="img", disable=not progress, dynamic_ncols=True, smoothing=0.05) as bar:
            for outcome in executor.run(plan.pending):
                task = outcome.task
                if outcome.status == "done":
                    summary.done += 1
                    if task.hints is not None:
                        summary.hinted += 1
                else:
                    summary.failed += 1
                hint_image = None if task.hints is None else str(task.hints)
                record(JournalEntry(str(task.input), str(task.output), outcome.status, outcome.reason, outcome.seconds, outcome.model, hint_image))
                bar.update(1)
        summary.seconds = time.perf_counter() - started
    return summary


def add_batch_options(parser: argparse.ArgumentParser, positive_int: Callable[[str], int]) -> None:
    """``tinct colorize``'s options for folders and collections (``positive_int``: the CLI's argument type)."""
    parser.add_argument("--recursive", action="store_true", help="colorize the whole tree of each input folder, mirrored under --out-dir")
    parser.add_argument("--format", choices=tuple(OUTPUT_FORMATS), default=None, help="output type for a folder (default: same as each input; 16-bit stays 16-bit, jpg is 8-bit)")
    parser.add_argument("--workers", type=positive_int, default=None, help="worker processes (with --ray: Ray actors); default: one per 4 cores, or one per GPU")
    parser.add_argument("--ray", metavar="ADDRESS", default=None, help="run on a Ray cluster: ray://HOST:10001, auto, or local (needs pip install 'tinct[cluster]')")


def wants_batch(args: argparse.Namespace) -> bool:
    """Whether ``tinct colorize`` was asked for a collection (a folder, or a batch option)."""
    return any(Path(item).is_dir() for item in args.inputs) or bool(args.recursive or args.format or args.workers or args.ray)


def run_batch_command(args: argparse.Namespace) -> BatchSummary:
    """``tinct colorize`` on a collection: the journaled, resumable batch; prints a summary line."""
    if args.out_dir is None:
        raise TinctError("a folder or batch needs --out-dir DIR (-o names one output file)")
    settings = BatchSettings(
        model=str(_absolute(args.model)) if args.model else None,  # workers elsewhere have another working folder
        device=args.device,
        working_size=args.working_size,
        tile=args.tile,
        saturation=args.saturation,
        max_pixels=args.max_pixels,
    )
    show = sys.stderr.isatty() or bool(os.environ.get("TINCT_PROGRESS"))
    summary = run_batch(
        args.inputs,
        args.out_dir,
        settings,
        recursive=args.recursive,
        output_format=args.format or "same",
        force=args.force,
        workers=args.workers,
        ray_address=args.ray,
        hints=args.hints,
        progress=show,
        report=lambda message: tqdm.write(f"tinct: error: {message}", file=sys.stderr),
    )
    print(f"tinct: {summary.line()}")
    return summary
