"""A stand-in for the tinct worker that crashes in the middle of a request, for the tests.

:func:`make_crashing_python` writes an executable a plug-in can be given as its "python":
whatever arguments it gets, it announces itself as the real worker does, reads one
request, reports some progress and dies, leaving :data:`CRASH_MESSAGE` on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stand_in_python import python_running
from tinct.worker_protocol import PROTOCOL_VERSION, read_message, write_message

CRASH_MESSAGE = "simulated crash in the middle of colorizing"


def make_crashing_python(folder: Path) -> Path:
    """Write the executable in ``folder`` and return its path."""
    return python_running(Path(__file__), folder)


if __name__ == "__main__":
    write_message(sys.stdout.buffer, {"type": "ready", "protocol": PROTOCOL_VERSION, "tinct": "crashing"})
    read_message(sys.stdin.buffer)
    write_message(sys.stdout.buffer, {"type": "progress", "fraction": 0.5})
    sys.exit(CRASH_MESSAGE)
