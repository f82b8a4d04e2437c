"""Atomic file writes: a temporary file beside the target, then a rename.

A crash or an error mid-write never leaves a half-written file at the target, and an
existing target stays intact until the new file is complete.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

# write_atomically's temporaries: ".<target name>.<mkstemp's 8 random characters>.tmp<target suffix>".
_TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[^.]*)?$")


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


def remove_stale_temporaries(folder: Path, target: str | None = None) -> int:
    """Delete the temporaries that killed writers left in ``folder``; return how many.

    ``target``: only those of that file name.  Call this only when no other process is
    writing (that file) into ``folder``.
    """
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(folder):
        owned = target is None or (entry.name.startswith(f".{target}.") and entry.name.endswith(".tmp" + Path(target).suffix))
        if owned and entry.is_file() and _TEMPORARY_NAME.match(entry.name):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed
