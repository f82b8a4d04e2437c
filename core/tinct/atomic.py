"""Atomic file writes: a temporary file beside the target, then a rename.

A crash or an error mid-write never leaves a half-written file at the target, and an
existing target stays intact until the new file is complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then move the result to ``path``.

    The file gets the permissions a plain ``open(path, "w")`` would give (mkstemp's
    private 0600 would surprise users).  ``OSError`` from creating the temporary file
    propagates; on any failure the temporary file is removed.
    """
    handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent if str(path.parent) else ".")
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
