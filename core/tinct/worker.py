"""The tinct worker process, ``python -m tinct.worker``: colorizes for the GIMP and Krita plug-ins.

It speaks :mod:`tinct.worker_protocol` (which documents the messages) on its stdin and
stdout: it announces itself with ``ready``, then answers each ``colorize`` request with
``progress`` messages and one ``result`` or ``error``, until its stdin closes. It exits at
once if its stdin closes mid-request (the plug-in was cancelled or its host quit).

Anything written to the process's stdout by libraries is redirected to stderr, so it
cannot corrupt the protocol stream.
"""

from __future__ import annotations

import functools
import os
import queue
import sys
import threading
import traceback
from typing import BinaryIO

import numpy as np
import torch

from . import __version__
from .devices import resolve_device
from .errors import DeviceError, ImageError, ModelError, TinctError
from .inference import Colorizer, load_model
from .worker_protocol import PROTOCOL_VERSION, ColorizeRequest, Message, ProtocolError, read_message, write_message

__all__ = ["decode_pixels", "encode_pixels", "serve", "main"]

EXIT_PARENT_GONE = 3
_SAMPLE_DTYPES = {"float32": np.dtype("<f4"), "uint16": np.dtype("<u2")}
# Exception class → the "kind" an error reply carries; the first match wins.
_ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (ProtocolError, "request"),
    (ModelError, "model"),
    (DeviceError, "device"),
    (ImageError, "image"),
    (MemoryError, "memory"),
    (torch.OutOfMemoryError, "memory"),
    (TinctError, "tinct"),
)


def decode_pixels(payload: bytes | bytearray, request: ColorizeRequest) -> np.ndarray:
    """A request's payload as an array ``(height, width, channels)`` of its sample type.

    float32 (values in [0, 1]) or uint16 (0..65535), as `Colorizer.colorize` takes them.
    """
    samples = np.frombuffer(payload, _SAMPLE_DTYPES[request.sample_format])
    return samples.reshape(request.height, request.width, request.channels)


def encode_pixels(image: np.ndarray, sample_format: str) -> bytes:
    """An array of colorized pixels as the little-endian samples of ``sample_format``."""
    return np.ascontiguousarray(image, dtype=_SAMPLE_DTYPES[sample_format]).tobytes()


def _tinct_device(device: str) -> str:
    """A protocol device name as tinct knows it: ``"gpu"`` is the available GPU, if any."""
    if device != "gpu":
        return device
    chosen = resolve_device("auto")
    if chosen.type == "cpu":
        raise DeviceError("no GPU (CUDA or Apple MPS) is available on this machine; choose the Auto or CPU device")
    return chosen.type


@functools.lru_cache(maxsize=1)
def _colorizer(model: str | None, device: str) -> Colorizer:
    """The model of the last request, kept loaded for the next one."""
    return load_model(model, device=_tinct_device(device))


def _colorize(message: Message, replies: BinaryIO) -> None:
    """Answer one request with progress messages and its result; raises on any failure."""
    if message.type != "colorize":
        raise ProtocolError(f"unknown request type {message.type!r}")
    request = ColorizeRequest.from_header(message.header)
    if len(message.payload) != request.payload_size:
        raise ProtocolError(f"request carries {len(message.payload)} bytes of pixels, its header says {request.payload_size}")
    image = decode_pixels(message.payload, request)
    colorizer = _colorizer(request.model, request.device)

    def report(fraction: float) -> None:
        write_message(replies, {"type": "progress", "fraction": float(fraction)})

    result = colorizer.colorize(image, working_size=request.working_size, saturation=request.saturation, progress=report)
    header = {
        "type": "result",
        "width": request.width,
        "height": request.height,
        "channels": request.channels,
        "sample_format": request.sample_format,
    }
    write_message(replies, header, encode_pixels(result, request.sample_format))


def _error_reply(error: Exception, message: Message) -> dict[str, str]:
    """The ``error`` message for a failed request: its kind and one line of advice."""
    kind = next((kind for cls, kind in _ERROR_KINDS if isinstance(error, cls)), "internal")
    if kind == "memory":
        size = f"{message.header.get('width')}×{message.header.get('height')}"
        text = f"out of memory colorizing {size} pixels: lower the working size, choose the CPU device, or colorize a smaller selection"
    elif kind == "internal":
        traceback.print_exception(error)
        text = f"tinct failed unexpectedly ({type(error).__name__}: {error}); the worker's error output has the details"
    else:
        text = str(error)
    return {"type": "error", "kind": kind, "message": " ".join(text.split())}


def _read_requests(requests: BinaryIO, inbox: queue.Queue[Message | ProtocolError | None], working: threading.Event) -> None:
    """Pass requests to the main thread; end the process if stdin closes mid-request."""
    try:
        while (message := read_message(requests)) is not None:
            inbox.put(message)
    except ProtocolError as error:
        inbox.put(error)
    if working.is_set():
        os._exit(EXIT_PARENT_GONE)
    inbox.put(None)


def serve(requests: BinaryIO, replies: BinaryIO) -> int:
    """Run the worker on the given streams until ``requests`` ends; returns the exit status."""
    inbox: queue.Queue[Message | ProtocolError | None] = queue.Queue()
    working = threading.Event()
    try:
        write_message(replies, {"type": "ready", "protocol": PROTOCOL_VERSION, "tinct": __version__})
        threading.Thread(target=_read_requests, args=(requests, inbox, working), daemon=True).start()
        while (item := inbox.get()) is not None:
            if isinstance(item, ProtocolError):  # the stream itself is broken: stop
                write_message(replies, {"type": "error", "kind": "request", "message": str(item)})
                return 1
            working.set()
            try:
                _colorize(item, replies)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as error:  # every other failure becomes a reply; the worker keeps serving
                write_message(replies, _error_reply(error, item))
            finally:
                working.clear()
    except (BrokenPipeError, ConnectionResetError):
        return EXIT_PARENT_GONE
    return 0


def main() -> int:
    """Serve on the process's stdin and stdout, keeping stdout for the protocol alone."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main())
