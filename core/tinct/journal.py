"""The batch journal, ``tinct-batch.jsonl`` in the output folder: one JSON line per file.

Each line records how one file ended in one run::

    {"input": "/scans/a/001.tif", "output": "/out/a/001.tif", "status": "done",
     "reason": "", "seconds": 1.82, "model": "/…/tinct-default.safetensors",
     "hints": "/hints/a/001.png"}

``status`` is ``done`` (the output is complete), ``failed`` (``reason`` says why) or
``skipped`` (not an image); ``hints`` is the hint image the file was colorized with
(null when none).  Lines are appended as work finishes, each flushed and
fsync'ed, so the journal stays valid whenever the process is killed: at worst the last
line is torn, and opening the journal again cuts that line off.  Only one batch at a time
may write a journal (an advisory lock guards it where the system has ``fcntl``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from .errors import TinctError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one batch per folder is then up to the user.
    fcntl = None  # type: ignore[assignment]

__all__ = ["JOURNAL_NAME", "STATUSES", "JournalEntry", "Journal"]

JOURNAL_NAME = "tinct-batch.jsonl"
STATUSES = ("done", "failed", "skipped")


@dataclass(frozen=True)
class JournalEntry:
    """One line of the journal; paths are absolute, ``seconds`` is wall time (None if unknown),
    ``hints`` the hint image used (None when none)."""

    input: str
    output: str
    status: str
    reason: str = ""
    seconds: float | None = None
    model: str = ""
    hints: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"journal status must be one of {STATUSES}, got {self.status!r}")


class Journal:
    """The journal of one output folder, open for appending (use as a context manager)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / JOURNAL_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._file: IO[bytes] = open(self.path, "a+b")
        except OSError as error:
            raise TinctError(f"cannot write the batch journal {self.path}: {error.strerror or error}; choose a writable --out-dir") from None
        if fcntl is not None:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._file.close()
                raise TinctError(f"another tinct batch is writing into {folder} ({self.path} is locked); wait for it or use another --out-dir") from None
        # The last entry of each (input, output) pair so far.
        self.latest: dict[tuple[str, str], JournalEntry] = {(entry.input, entry.output): entry for entry in self._read_and_repair()}

    def _read_and_repair(self) -> list[JournalEntry]:
        """The complete lines so far; a torn last line (killed mid-write) is cut off."""
        self._file.seek(0)
        content = self._file.read()
        complete = content[: content.rfind(b"\n") + 1]
        if len(complete) != len(content):
            self._file.truncate(len(complete))
            os.fsync(self._file.fileno())
        entries = []
        for line in complete.splitlines():
            try:
                entries.append(JournalEntry(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # not a line tinct wrote; keep it, but it says nothing
        return entries

    def append(self, entry: JournalEntry) -> None:
        """Write one line and make it durable before returning."""
        self._file.write(json.dumps(asdict(entry), ensure_ascii=False).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.latest[entry.input, entry.output] = entry

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
