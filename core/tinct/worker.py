"""The tinct worker process, ``python -m tinct.worker``: colorizes for the GIMP and Krita plug-ins.

It speaks :mod:`tinct.worker_protocol` (which documents the messages) on its stdin and
stdout: it announces itself with ``ready``, then answers each ``describe`` request with a
``description`` of the model and each ``colorize`` request with ``progress`` messages and
one ``result`` or ``error``, until its stdin closes.  Every numeric step is done here:
decoding, colorizing, following the hint layer, applying the selection. It exits at
once if its stdin closes mid-request (the plug-in was cancelled or its host quit).

It never hangs: a malformed request gets an ``error`` reply; a broken stream, or any
failure of the thread reading stdin, gets an ``error`` reply and ends the worker.

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
from typing import BinaryIO, Union

import numpy as np
import torch

from . import __version__
from .devices import resolve_device
from .errors import DeviceError, ImageError, ModelError, TinctError
from .inference import Colorizer, load_model
from .io import DEFAULT_MAX_PIXELS
from .selection import blend_selection, scale_alpha
from .worker_protocol import (
    HEARTBEAT_SECONDS,
    PROTOCOL_VERSION,
    ColorizeRequest,
    DescribeRequest,
    Description,
    ErrorReply,
    Message,
    MessageRefused,
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


class _Replies:
    """The reply stream, shared by the main thread and the heartbeat: one frame at a time.

    While a request is being worked on, the heartbeat repeats the last progress fraction
    every `HEARTBEAT_SECONDS`, so the plug-in can tell a slow step from a stuck worker.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._fraction: float | None = None  # None while idle: no heartbeat
        self._stopped = threading.Event()

    def start_request(self) -> None:
        with self._lock:
            self._fraction = 0.0

    def progress(self, fraction: float) -> None:
        with self._lock:
            self._fraction = float(fraction)
            write_message(self._stream, Progress(self._fraction).header())

    def send(self, header: dict[str, object], *payload: bytes | memoryview) -> None:
        """Send a message that ends the current request (if any): no heartbeat follows it."""
        with self._lock:
            self._fraction = None
            write_message(self._stream, header, *payload)

    def beat(self) -> None:
        """Repeat the last progress while working, until `stop` (run in a daemon thread)."""
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            with self._lock:
                if self._fraction is None:
                    continue
                try:
                    write_message(self._stream, Progress(self._fraction).header())
                except (OSError, ValueError):  # the plug-in left; the main thread finds out too
                    return

    def stop(self) -> None:
        self._stopped.set()


def _describe(message: Message, replies: _Replies) -> None:
    request = DescribeRequest.from_header(message.header)
    replies.send(Description(_colorizer(request.model, request.device).descriptor.to_dict()).header())


def _colorize(message: Message, replies: _Replies) -> None:
    """Answer one request with progress messages and its result; raises on any failure."""
    request = ColorizeRequest.from_header(message.header)
    pixels, hint_layer, selection = request.split(message.payload)
    image = decode_pixels(pixels, request)
    colorizer = _colorizer(request.model, request.device)

    result = colorizer.colorize(
        image,
        working_size=request.working_size,
        saturation=request.saturation,
        hints=None if hint_layer is None else decode_pixels(hint_layer, request, 4),
        progress=replies.progress,
    )
    if request.selection == "blend":
        result = blend_selection(image, result, _selection_weights(selection, request))
    elif request.selection == "alpha":
        result = scale_alpha(result, _selection_weights(selection, request))
    header = Result(request.width, request.height, request.channels, request.sample_format).header()
    replies.send(header, encode_pixels(result, request.sample_format))


_HANDLERS = {"colorize": _colorize, "describe": _describe}


def _answer(message: Message, replies: _Replies) -> None:
    handler = _HANDLERS.get(message.type)
    if handler is None:
        raise MessageRefused(f"unknown request type {message.type!r}")
    handler(message, replies)


def _error_reply(error: BaseException, header: dict[str, object]) -> ErrorReply:
    """The ``error`` message for a failed request (``header``: its header, or empty): its kind and one line of advice."""
    kind = next((kind for cls, kind in _ERROR_KINDS if isinstance(error, cls)), "internal")
    if kind == "memory":
        size = f"{header.get('width')}×{header.get('height')} pixels" if header else "the request"
        text = f"out of memory colorizing {size}: lower the working size, choose the CPU device, or colorize a smaller selection"
    elif kind == "internal":
        traceback.print_exception(error)
        text = f"tinct failed unexpectedly ({type(error).__name__}: {error}); the worker's error output has the details"
    else:
        text = str(error)
    return ErrorReply(kind, " ".join(text.split()))


Inbox = queue.Queue[Union[Message, BaseException, None]]


def _read_requests(requests: BinaryIO, inbox: Inbox, working: threading.Event, max_pixels: int) -> None:
    """Pass requests (or refusals) to the main thread; end the process if stdin closes mid-request.

    Whatever goes wrong here reaches the main thread, which answers it: this thread must
    never die silently, or the main thread would wait for requests forever.
    """
    try:
        while True:
            try:
                message = read_message(requests, max_pixels=max_pixels)
            except MessageRefused as refusal:  # the frame was consumed: answer it and go on
                inbox.put(refusal)
                continue
            if message is None:
                break
            inbox.put(message)
    except BaseException as error:  # a broken stream, memory, a bug: the main thread replies and stops
        inbox.put(error)
        return
    if working.is_set():
        os._exit(EXIT_PARENT_GONE)
    inbox.put(None)


def serve(requests: BinaryIO, replies: BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Run the worker on the given streams until ``requests`` ends; returns the exit status.

    Requests over ``max_pixels`` pixels are refused before their payload is stored.
    """
    inbox: Inbox = queue.Queue()
    working = threading.Event()
    sender = _Replies(replies)
    threading.Thread(target=sender.beat, daemon=True).start()
    try:
        sender.send(Ready(PROTOCOL_VERSION, __version__).header())
        threading.Thread(target=_read_requests, args=(requests, inbox, working, max_pixels), daemon=True).start()
        while (item := inbox.get()) is not None:
            if isinstance(item, MessageRefused):
                sender.send(_error_reply(item, {}).header())
                continue
            if isinstance(item, BaseException):  # the request stream is broken or unreadable: answer and stop
                sender.send(_error_reply(item, {}).header())
                return 1
            working.set()
            sender.start_request()
            try:
                _answer(item, sender)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as error:  # every other failure becomes a reply; the worker keeps serving
                sender.send(_error_reply(error, item.header).header())
            finally:
                working.clear()
    except (BrokenPipeError, ConnectionResetError):
        return EXIT_PARENT_GONE
    finally:
        sender.stop()
    return 0


def main() -> int:
    """Serve on the process's stdin and stdout, keeping stdout for the protocol alone."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main())
