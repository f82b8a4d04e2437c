"""Executables a `WorkerClient` can be given as its "python", to run a test's stand-in worker."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def python_running(script: Path, folder: Path) -> Path:
    """Write ``folder/<script's stem>-python``, a POSIX shell script that runs ``script`` with
    this interpreter whatever arguments it gets (``-m tinct.worker`` from the client), and
    return its path."""
    executable = folder / f"{script.stem}-python"
    executable.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script.resolve()))}\n")
    executable.chmod(0o755)
    return executable
