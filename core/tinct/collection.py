"""A collection of photos: the input files of a batch and the output file of each.

`plan_collection` walks the inputs (files and folders, folders recursively when asked),
mirrors each image's path relative to its folder under the output folder (and, given a
hint folder, finds its hint image at the same relative path there), and sorts the files
into what is still to do, what is already done (its output exists: outputs are written
atomically, so an existing one is complete) and what is not an image at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .atomic import remove_stale_temporaries
from .errors import TinctError
from .hint_files import HintFolder
from .io import READ_SUFFIXES

__all__ = ["OUTPUT_FORMATS", "Task", "CollectionPlan", "plan_collection"]

# --format choices: the suffix an output gets ("same" keeps the input's).
OUTPUT_FORMATS = {"same": None, "png": ".png", "tif": ".tif", "jpg": ".jpg"}


@dataclass(frozen=True)
class Task:
    """One image to colorize: ``input`` read, colour written to ``output``, steered by the
    hint image ``hints`` if not None (see `tinct.hint_files`)."""

    input: Path
    output: Path
    hints: Path | None = None


@dataclass
class CollectionPlan:
    """What a batch has to do.

    ``pending``: images whose output is missing (or all images with ``force``);
    ``done``: images whose output already exists; ``not_images``: files skipped because
    their suffix is not an image type tinct reads; ``rejected``: images that cannot be
    done as asked, with the reason (their output is another image's, or the input itself,
    or two hint images could be theirs).
    """

    pending: list[Task] = field(default_factory=list)
    done: list[Task] = field(default_factory=list)
    not_images: list[Path] = field(default_factory=list)
    rejected: list[tuple[Task, str]] = field(default_factory=list)


def _is_hidden(name: str) -> bool:
    # Dot files include the atomic writer's temporaries and macOS's ._ resource forks.
    return name.startswith(".")


def _walk(folder: Path, recursive: bool, exclude: set[Path]) -> Iterator[Path]:
    """Files under ``folder`` in sorted order (a stable order makes runs comparable)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        raise TinctError(f"cannot read the folder {folder}: {error.strerror or error}") from None
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            if recursive and path.resolve() not in exclude:
                yield from _walk(path, recursive, exclude)
        elif entry.is_file():
            yield path


def _sources(inputs: Sequence[Path], recursive: bool, exclude: set[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, path relative to the output folder) for every file the inputs name, outside the ``exclude`` folders (resolved)."""
    for item in inputs:
        if item.is_dir():
            for path in _walk(item, recursive, exclude):
                yield path, path.relative_to(item)
        elif item.is_file():
            yield item, Path(item.name)
        else:
            raise TinctError(f"{item} does not exist" if not item.exists() else f"{item} is neither a file nor a folder")


def _identity(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def output_path(relative: Path, out_dir: Path, output_format: str) -> Path:
    """Where the colour version of an input at ``relative`` goes."""
    suffix = OUTPUT_FORMATS[output_format]
    return out_dir / (relative.with_suffix(suffix) if suffix else relative)


def plan_collection(
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: Path,
    *,
    recursive: bool = False,
    output_format: str = "same",
    force: bool = False,
    hints: HintFolder | None = None,
) -> CollectionPlan:
    """Walk ``inputs`` and decide, for every file, what the batch does with it.

    A folder contributes the files directly in it, or its whole tree with ``recursive``
    (hidden files, and the output and hint folders if they lie inside, are left out).
    Each image still to do gets its hint image from ``hints``, if it has one there.  Stale
    temporary files of interrupted writes are removed from the output folders.
    """
    if output_format not in OUTPUT_FORMATS:
        raise TinctError(f"unknown output format {output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    plan = CollectionPlan()
    claimed: dict[str, Path] = {}
    cleaned: set[Path] = set()
    exclude = {out_dir.resolve()} | (set() if hints is None else {hints.path.resolve()})
    for source, relative in _sources([Path(item) for item in inputs], recursive, exclude):
        if source.suffix.lower() not in READ_SUFFIXES:
            plan.not_images.append(source)
            continue
        task = Task(source, output_path(relative, out_dir, output_format))
        key = _identity(task.output)
        if key == _identity(source):
            plan.rejected.append((task, f"its output {task.output} is the input itself; choose another --out-dir or --format"))
            continue
        if key in claimed:
            plan.rejected.append((task, f"its output {task.output} is also {claimed[key]}'s; use --format same"))
            continue
        claimed[key] = source
        if task.output.parent not in cleaned:
            cleaned.add(task.output.parent)
            remove_stale_temporaries(task.output.parent)
        if task.output.exists() and not force:
            plan.done.append(task)
        elif hints is None:
            plan.pending.append(task)
        else:
            try:
                plan.pending.append(replace(task, hints=hints.find(source, relative)))
            except TinctError as error:  # two hint images could be its, or its hint folder is unreadable
                plan.rejected.append((task, str(error)))
    return plan
