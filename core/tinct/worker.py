"""The tinct worker process, ``python -m tinct.worker``: colorizes for the GIMP and Krita plug-ins.

It speaks :mod:`tinct.worker_protocol` (which documents the messages) on its stdin and
stdout: it announces itself with ``ready``, then answers each ``describe`` request with a
``description`` of the model and each ``colorize`` request with ``progress`` messages and
one ``result`` or ``error``, until its stdin closes.  Every numeric step is done here:
decoding, colorizing, following the hint layer, applying the selection. It exits at
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
from .selection import blend_selection, scale_alpha
from .worker_protocol import (
    PROTOCOL_VERSION,
    ColorizeRequest,
    DescribeRequest,
    Description,
    ErrorReply,
    Message,
    Progress,
    ProtocolError,
    Ready,
    Result,
    read_message,
    write_message,
)

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


def decode_pixels(payload: bytes | bytearray | memoryview, request: ColorizeRequest, channels: int | None = None) -> np.ndarray:
    """Samples of the request's format as an array ``(height, width, channels)`` (default: the request's).

    float32 (values in [0, 1]) or uint16 (0..65535), as `Colorizer.colorize` takes them.
    """
    samples = np.frombuffer(payload, _SAMPLE_DTYPES[request.sample_format])
    return samples.reshape(request.height, request.width, channels or request.channels)


def _selection_weights(payload: memoryview, request: ColorizeRequest) -> np.ndarray:
    """The selection mask (one byte per pixel) as float32 ``(height, width)`` in [0, 1]."""
    return np.frombuffer(payload, np.uint8).reshape(request.height, request.width).astype(np.float32) / 255.0


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


def _describe(message: Message, replies: BinaryIO) -> None:
    request = DescribeRequest.from_header(message.header)
    write_message(replies, Description(_colorizer(request.model, request.device).descriptor.to_dict()).header())


def _colorize(message: Message, replies: BinaryIO) -> None:
    """Answer one request with progress messages and its result; raises on any failure."""
    request = ColorizeRequest.from_header(message.header)
    pixels, hint_layer, selection = request.split(message.payload)
    image = decode_pixels(pixels, request)
    colorizer = _colorizer(request.model, request.device)

    def report(fraction: float) -> None:
        write_message(replies, Progress(float(fraction)).header())

    result = colorizer.colorize(
        image,
        working_size=request.working_size,
        saturation=request.saturation,
        hints=None if hint_layer is None else decode_pixels(hint_layer, request, 4),
        progress=report,
    )
    if request.selection == "blend":
        result = blend_selection(image, result, _selection_weights(selection, request))
    elif request.selection == "alpha":
        result = scale_alpha(result, _selection_weights(selection, request))
    header = Result(request.width, request.height, request.channels, request.sample_format).header()
    write_message(replies, header, encode_pixels(result, request.sample_format))


_HANDLERS = {"colorize": _colorize, "describe": _describe}


def _answer(message: Message, replies: BinaryIO) -> None:
    handler = _HANDLERS.get(message.type)
    if handler is None:
        raise ProtocolError(f"unknown request type {message.type!r}")
    handler(message, replies)


def _error_reply(error: Exception, message: Message) -> ErrorReply:
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
    return ErrorReply(kind, " ".join(text.split()))


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
        write_message(replies, Ready(PROTOCOL_VERSION, __version__).header())
        threading.Thread(target=_read_requests, args=(requests, inbox, working), daemon=True).start()
        while (item := inbox.get()) is not None:
            if isinstance(item, ProtocolError):  # the stream itself is broken: stop
                write_message(replies, ErrorReply("request", str(item)).header())
                return 1
            working.set()
            try:
                _answer(item, replies)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as error:  # every other failure becomes a reply; the worker keeps serving
                write_message(replies, _error_reply(error, item).header())
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
