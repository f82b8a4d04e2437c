"""The real tinct worker, except that loading a model takes `LOAD_SECONDS` longer, for the tests.

It stands for a busy machine or a cold disk: the worker's progress heartbeat (every
``HEARTBEAT_SECONDS``) runs while the model loads. :func:`make_slow_loading_python`
writes an executable a `WorkerClient` can be given as its "python".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import tinct.worker
from stand_in_python import python_running
from tinct.inference import Colorizer, load_model
from tinct.worker_protocol import HEARTBEAT_SECONDS

# Long enough for two heartbeats, wherever the heartbeat's cycle stands when a request comes.
LOAD_SECONDS = 2.5 * HEARTBEAT_SECONDS


def make_slow_loading_python(folder: Path) -> Path:
    """Write the executable in ``folder`` and return its path."""
    return python_running(Path(__file__), folder)


def slow_load_model(*args: Any, **kwargs: Any) -> Colorizer:
    """`tinct.load_model`, after `LOAD_SECONDS` of sleep."""
    time.sleep(LOAD_SECONDS)
    return load_model(*args, **kwargs)


if __name__ == "__main__":
    tinct.worker.load_model = slow_load_model  # what the worker's model cache calls
    sys.exit(tinct.worker.main())
