"""Stand-ins for the tinct worker that stop talking, for the plug-in side's timeouts.

:func:`make_fake_python` writes an executable a `WorkerClient` can be given as its
"python"; whatever arguments it gets, it behaves as ``mode`` says:

* ``"never-ready"``: prints nothing and sleeps (a worker stuck while starting);
* ``"silent"``: announces itself as the real worker does, reads one request, then
  sleeps without a word (a worker stuck in the middle of a request).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from tinct.worker_protocol import PROTOCOL_VERSION, read_message, write_message

SLEEP_SECONDS = 600


def make_fake_python(folder: Path, mode: str) -> Path:
    """Write ``folder/fake-python-MODE`` (a POSIX shell script) and return its path."""
    script = folder / f"fake-python-{mode}"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} {mode}\n")
    script.chmod(0o755)
    return script


if __name__ == "__main__":
    if sys.argv[1] == "silent":
        write_message(sys.stdout.buffer, {"type": "ready", "protocol": PROTOCOL_VERSION, "tinct": "silent"})
        read_message(sys.stdin.buffer)
    time.sleep(SLEEP_SECONDS)
