"""Atomic file writes: a temporary file beside the target, then a rename.

A crash or an error mid-write never leaves a half-written file at the target, and an
existing target stays intact until the new file is complete.  Temporary files are named
``.tinct-tmp-<pid>-<random>-<target name>``: one whose process is gone (killed before it
could clean up) is removed by the next write into that folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMPORARY_PREFIX = ".tinct-tmp-"
# Folders already swept of stale temporary files by this process.
_swept: set[Path] = set()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (True when that cannot be told)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        synchronize, wait_timeout = 0x00100000, 0x102
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        kernel32.OpenProcess.restype = ctypes.c_void_p
        kernel32.WaitForSingleObject.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
        kernel32.CloseHandle.argtypes = (ctypes.c_void_p,)
        handle = kernel32.OpenProcess(synchronize, False, pid)
        if not handle:
            return False
        try:
            return kernel32.WaitForSingleObject(handle, 0) == wait_timeout
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def remove_stale_temporaries(folder: Path, target: str | None = None) -> list[Path]:
    """Remove tinct's temporary files in ``folder`` that no live writer will finish; returns them.

    Without ``target``: those whose writing process is gone from this machine.  With
    ``target`` (a file name): every temporary of that file, whatever process wrote it —
    for a caller that knows its writer died (a batch's dead worker, which may have run on
    another machine, or be a process not yet reaped).
    """
    removed = []
    try:
        candidates = [
            entry
            for entry in os.scandir(folder)
            if entry.name.startswith(TEMPORARY_PREFIX) and (target is None or entry.name.endswith(f"-{target}")) and entry.is_file(follow_symlinks=False)
        ]
    except OSError:
        return removed
    for entry in candidates:
        pid_text = entry.name[len(TEMPORARY_PREFIX) :].split("-", 1)[0]
        if target is not None or (pid_text.isdigit() and not process_alive(int(pid_text))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def write_atomically(path: Path, write: Callable[[Path], None], mode: int | None = None) -> Path:
    """Call ``write(temporary_path)``, then move the result to ``path``.

    The file gets the permissions ``mode`` if given, else those a plain ``open(path, "w")``
    would give (mkstemp's private 0600 would surprise users).  ``OSError`` from creating the temporary file
    propagates; on any failure (and on KeyboardInterrupt or SystemExit) the temporary
    file is removed.  The first write into a folder also removes stale temporary files
    of tinct's that a killed process left there.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if folder.resolve() not in _swept:
        remove_stale_temporaries(folder)
        _swept.add(folder.resolve())
    handle, temporary_name = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-", suffix=f"-{path.name}", dir=folder)
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask() if mode is None else mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path

