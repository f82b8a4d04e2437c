"""Run programs inside the cached Debian trixie root that holds real GIMP 3 and Krita 5.

The plug-in tests drive the real applications, which the test machine does not have. A
Debian trixie root holding them is built once by ``build_root.sh`` (debootstrap, so it
needs root privileges) and cached outside the checkout, at ``$TINCT_HOST_ROOT`` or
``/var/cache/tinct/trixie-root``.

A program runs in the root through :func:`run_in_host_root`: a private mount namespace
(``unshare --mount``) bind-mounts the checkout, this interpreter's virtual environment
(``sys.prefix``), its base installation (``sys.base_prefix``) and any directories the
caller names at the same paths inside the root, so the test's own Python and tinct work
unchanged in there; the mounts vanish with the process. The program starts with a clean
environment (``PATH=/usr/bin:/bin``, ``LANG=C.UTF-8`` and what the caller adds): a
virtual environment first on ``PATH`` would make GIMP start its own Python plug-ins with
the wrong ``python3``.

Public API: :class:`HostRootUnavailable`, :func:`ensure_host_root`, :func:`run_in_host_root`.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["HostRootUnavailable", "ensure_host_root", "run_in_host_root", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = Path(__file__).with_name("build_root.sh")
BASE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
REQUIRED_TOOLS = ("unshare", "chroot", "mount")
# Mounting one of these over the root's own would replace the root's system.
SYSTEM_DIRECTORIES = frozenset(Path(p) for p in ("/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/var", "/dev", "/proc", "/sys"))


class HostRootUnavailable(RuntimeError):
    """This machine cannot build or enter the host root (no root privileges, no unshare)."""


@functools.cache
def ensure_host_root() -> Path:
    """Build the host root unless a complete one is cached, and return its path.

    Raises
    ------
    HostRootUnavailable
        Without root privileges or the tools to enter a root; tests skip on this.
    subprocess.CalledProcessError
        The build itself failed (e.g. no network): a real failure, not a reason to skip.
    """
    if os.geteuid() != 0:
        raise HostRootUnavailable("building and entering the GIMP/Krita root needs root privileges")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise HostRootUnavailable(f"entering the GIMP/Krita root needs {', '.join(missing)}")
    built = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(built.stdout.strip().splitlines()[-1])


def _bind_sources(extra: Iterable[os.PathLike[str] | str]) -> list[Path]:
    """Directories to bind, parents before children, without ones a parent already covers."""
    wanted = sorted({Path(p).resolve() for p in (REPO_ROOT, sys.prefix, sys.base_prefix, *extra)})
    clashing = [str(path) for path in wanted if path in SYSTEM_DIRECTORIES]
    if clashing:
        raise RuntimeError(
            f"cannot mount {', '.join(clashing)} into the host root: run the tests with a Python installed "
            "outside the system directories (e.g. pyenv or uv), in a virtual environment made from it"
        )
    kept: list[Path] = []
    for path in wanted:
        if not any(path.is_relative_to(parent) for parent in kept):
            kept.append(path)
    return kept


def run_in_host_root(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    binds: Iterable[os.PathLike[str] | str] = (),
    timeout: float = 900.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside the host root and return its exit status, stdout and stderr (text).

    Parameters
    ----------
    argv
        The command, resolved inside the root (e.g. ``["gimp-console-3.0", "-i", ...]``).
    env
        Variables added to the clean environment (``HOME`` at least, for GUI programs).
    binds
        Further host directories (e.g. a test's temporary directory) mounted at the same
        path inside the root, read-write.
    timeout
        Seconds before the whole process group is killed and ``TimeoutExpired`` is raised.
    """
    root = ensure_host_root()
    lines = [
        "set -e",
        f"mount -t proc proc {shlex.quote(str(root / 'proc'))}",
        f"mount --rbind /dev {shlex.quote(str(root / 'dev'))}",
        f"mount -t tmpfs tmpfs {shlex.quote(str(root / 'tmp'))}",  # before the binds: they may lie in /tmp
    ]
    for source in _bind_sources(binds):
        target = shlex.quote(f"{root}{source}")
        lines += [f"mkdir -p {target}", f"mount --rbind {shlex.quote(str(source))} {target}"]
    variables = [f"{key}={value}" for key, value in {**BASE_ENV, **(env or {})}.items()]
    lines.append(shlex.join(["exec", "chroot", str(root), "/usr/bin/env", "-i", *variables, *argv]))
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
