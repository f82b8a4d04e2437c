"""The protocol between the GIMP and Krita plug-ins and the tinct worker process.

The painting programs' own Pythons have no torch and must not need it, so a plug-in runs
tinct in the user's tinct environment as a worker process (``python -m tinct.worker``)
and talks to it over the worker's stdin and stdout. This module is that protocol's one
definition: the worker (:mod:`tinct.worker`) imports it, and ``tinct install-plugin``
copies it next to each plug-in, so it uses the standard library only and runs on the
plug-in hosts' Pythons (3.10 and newer).

Framing
-------
Every message, in both directions, is one frame::

    uint32 LE  header length H
    uint64 LE  payload length P
    H bytes    header: a UTF-8 JSON object with a "type" key
    P bytes    payload (pixels; empty for most messages)

Messages
--------
Each message type is a dataclass below; its ``header()`` is the frame's JSON header and
``from_header()`` parses one (raising :class:`ProtocolError` if it is malformed).

worker → plug-in, once, as soon as tinct is imported (:class:`Ready`)::

    {"type": "ready", "protocol": 2, "tinct": "<version>"}

plug-in → worker, to learn a model's defaults and option ranges before showing a dialog
(:class:`DescribeRequest`), answered by one ``description`` (:class:`Description`) or ``error``
(after ``progress`` heartbeats, see below, if loading the model takes a while)::

    {"type": "describe", "device": ..., "model": <path> | null}
    {"type": "description", "model": {<tinct.ModelDescriptor.to_dict()>: "working_size",
     "working_size_range": [min, max], "saturation_range": [min, max], "chroma_scale", ...}}

plug-in → worker, one per colorization (:class:`ColorizeRequest`; the worker serves them in turn)::

    {"type": "colorize", "width": W, "height": H, "channels": 3 | 4,
     "sample_format": "float32" | "uint16", "working_size": int | null, "saturation": float,
     "device": "auto" | "cpu" | "gpu" | <a tinct device name>, "model": <path> | null,
     "hints": bool, "selection": null | "blend" | "alpha"}
    payload, in this order:
      the pixels: W·H·channels samples, little-endian, row-major, channels interleaved
      (R, G, B[, A]), gamma-encoded sRGB, alpha straight (not premultiplied); float32
      samples lie in [0, 1] (colour outside is clipped, NaN is refused), uint16 samples
      span 0..65535;
      if "hints": the hint layer, W·H·4 samples (R, G, B, A) in the same format, covering
      the same pixels — its opaque pixels are colour hints;
      if "selection": the selection mask, W·H bytes, 0 = unselected to 255 = selected (the
      form both GIMP and Krita keep selections in). "blend": the result is mixed with the request's pixels by
      it; "alpha": the result's alpha is the pixels' alpha times it (for a new layer laid
      over the original).
    ``working_size`` null means the model's calibrated one, ``model`` null the model
    shipped with tinct.

worker → plug-in, while working on any request, any number of times, and at least every
``HEARTBEAT_SECONDS`` (repeating the last fraction when nothing moved) (:class:`Progress`)::

    {"type": "progress", "fraction": f}          # 0 <= f <= 1, never decreasing

worker → plug-in, to end a colorization, exactly one of (:class:`Result`, :class:`ErrorReply`)::

    {"type": "result", "width": W, "height": H, "channels": C, "sample_format": ...}
    payload: the colorized pixels in the request's layout; alpha as it came in (or
    scaled by the selection, with "alpha").

    {"type": "error", "kind": <see ERROR_KINDS>, "message": "<one line: what went wrong
     and what to do>"}

Limits
------
A header is at most ``MAX_HEADER_BYTES`` of JSON without NaN or Infinity. A ``colorize``
or ``result`` frame's payload length must be exactly what its header implies (width ×
height × channels × sample size), every other message carries none; the worker also
refuses requests over its pixel limit. A frame that breaks these rules but is itself
intact is consumed whole and refused (:class:`MessageRefused`); the stream goes on.
Payloads are read in chunks of ``READ_CHUNK_BYTES``, so a header announcing more than
arrives costs no memory.

Lifetime and cancelling
-----------------------
The worker serves requests until its stdin closes, and exits at once when its stdin
closes, even in the middle of a colorization: a plug-in that is killed (GIMP's Cancel
kills it, quitting the host does too) takes its worker with it. A plug-in cancels a
colorization by terminating the worker; nothing is written back in that case.

Use from a plug-in
------------------
::

    with WorkerClient.from_plugin_folder("krita", folder_of_tinct_plugin_json) as client:
        model = client.describe()          # defaults and ranges for the dialog
        request = ColorizeRequest(width, height, 4, "uint16", hints=True)
        pixels = client.colorize(request, pixels, progress=lambda fraction: not cancelled, hints=layer)

Every failure raises :class:`WorkerError`, whose text is meant for the user. The client
never waits forever: a worker silent for ``silence_timeout`` seconds (no ``ready``
within ``start_timeout``) is killed and reported.

Locating the worker's Python
----------------------------
``$TINCT_PYTHON`` if set, else the ``"python"`` recorded by ``tinct install-plugin`` in
``tinct-plugin.json`` beside this file. The model file likewise: ``$TINCT_MODEL``, else
the optional ``"model"`` in ``tinct-plugin.json``, else the model shipped with tinct.
"""

from __future__ import annotations

import collections
import json
import math
import operator
import os
import queue
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "PROTOCOL_VERSION",
    "SAMPLE_FORMATS",
    "ERROR_KINDS",
    "CONFIG_NAME",
    "PYTHON_ENV",
    "MODEL_ENV",
    "WorkerError",
    "WorkerCancelled",
    "ProtocolError",
    "MessageRefused",
    "MAX_HEADER_BYTES",
    "HEARTBEAT_SECONDS",
    "ColorizeRequest",
    "DescribeRequest",
    "Ready",
    "Description",
    "Progress",
    "Result",
    "ErrorReply",
    "SELECTION_MODES",
    "payload_size_of",
    "Message",
    "read_message",
    "write_message",
    "WorkerClient",
]

PROTOCOL_VERSION = 2
SAMPLE_FORMATS = {"float32": 4, "uint16": 2}
"""Sample format name → bytes per sample."""
SELECTION_MODES = ("blend", "alpha")
"""How a request's selection mask applies: mix the result with the original, or scale its alpha."""
HINT_CHANNELS = 4
ERROR_KINDS = ("model", "device", "image", "memory", "tinct", "request", "internal")
"""What went wrong, in an ``error`` reply: the model file, the device, the pixels, memory,
another refusal by tinct (e.g. an option out of range), a malformed request, or a bug."""
CONFIG_NAME = "tinct-plugin.json"
PYTHON_ENV = "TINCT_PYTHON"
MODEL_ENV = "TINCT_MODEL"

_FRAME = struct.Struct("<IQ")
MAX_HEADER_BYTES = 1 << 16
"""Largest header a frame may have, in bytes (a request's header is a few hundred)."""
READ_CHUNK_BYTES = 1 << 22
HEARTBEAT_SECONDS = 2.0
"""A working worker sends a ``progress`` message at least this often."""
# The plug-in's patience: importing torch on a cold disk takes long; once working, the
# worker's heartbeat makes a much shorter silence a sure sign it is stuck.
START_TIMEOUT_SECONDS = 300.0
SILENCE_TIMEOUT_SECONDS = 60.0
_STDERR_LINES_KEPT = 20
_EXIT_WAIT_SECONDS = 5.0
# Variables of the host's own embedded Python that would break the tinct environment's.
_FOREIGN_PYTHON_VARIABLES = ("PYTHONHOME", "PYTHONPATH")


class WorkerError(Exception):
    """A colorization through the worker failed; ``str(error)`` tells the user what to do.

    ``kind`` is one of :data:`ERROR_KINDS` for errors the worker reported, or
    ``"setup"`` (no usable tinct Python), ``"crashed"`` (the worker died),
    ``"unresponsive"`` (the worker stopped answering and was killed) or ``"cancelled"``.
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class WorkerCancelled(WorkerError):
    """The progress callback asked to stop; the worker was terminated."""

    def __init__(self) -> None:
        super().__init__("colorization cancelled", "cancelled")


class ProtocolError(Exception):
    """A frame or message does not follow this protocol; the stream cannot go on."""


class MessageRefused(ProtocolError):
    """A frame was read whole but its message is malformed; the stream is still in step."""


def _whole_number(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``low..high``; bools, floats and strings are refused."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise MessageRefused(f"{name} must be a whole number, got {value!r}") from None
    if number < low or (high is not None and number > high):
        raise MessageRefused(f"{name} must be {f'from {low} to {high}' if high is not None else f'at least {low}'}, got {number}")
    return number


def _pixels(count: int) -> str:
    return f"{count:,} pixel{'s' if count != 1 else ''}"


def _parse(cls: type, header: Mapping[str, Any], **fields: Callable[[Any], Any]) -> Any:
    """``cls`` built from the header's ``fields``, each through its converter; optional ones may be absent."""
    values = {}
    for name, convert in fields.items():
        try:
            values[name] = convert(header.get(name))
        except (TypeError, ValueError) as error:
            raise ProtocolError(f"malformed {header.get('type')} message: field {name!r} is {header.get(name)!r} ({error})") from None
    return cls(**values)


def _required(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def checked(value: Any) -> Any:
        if value is None:
            raise ValueError("missing")
        return convert(value)

    return checked


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


@dataclass(frozen=True)
class ColorizeRequest:
    """One colorization: the pixels' layout and the options for tinct.

    ``width``, ``height`` and ``channels`` (3 = RGB, 4 = RGBA) describe the pixels;
    ``sample_format`` is a key of :data:`SAMPLE_FORMATS`. ``working_size`` is the side in
    pixels at which tinct predicts colour (None: the model's calibrated one, see
    :meth:`WorkerClient.describe`), ``saturation`` scales the predicted chroma
    (1 = as predicted), ``device`` picks the compute device, ``model`` is a model file
    path or None for the model shipped with tinct. ``hints``: a hint layer follows the
    pixels; ``selection``: a selection mask (one byte per pixel) follows, applied as
    :data:`SELECTION_MODES` says.
    """

    width: int
    height: int
    channels: int
    sample_format: str = "float32"
    working_size: int | None = None
    saturation: float = 1.0
    device: str = "auto"
    model: str | None = None
    hints: bool = False
    selection: str | None = None

    def __post_init__(self) -> None:
        payload_size_of(self.header())  # the layout: checked as a frame's is
        if self.working_size is not None:  # None: the model's own
            _whole_number("working_size", self.working_size, 1)
        if isinstance(self.saturation, bool) or not isinstance(self.saturation, (int, float)) or not math.isfinite(self.saturation):
            raise MessageRefused(f"saturation must be a finite number, got {self.saturation!r}")
        if not isinstance(self.device, str):
            raise MessageRefused(f"device must be a name, got {self.device!r}")
        if self.model is not None and not isinstance(self.model, str):
            raise MessageRefused(f"model must be a file path or null, got {self.model!r}")

    @property
    def pixels_size(self) -> int:
        """Bytes of the pixels a request carries, and of its result."""
        return self.width * self.height * self.channels * SAMPLE_FORMATS[self.sample_format]

    @property
    def hints_size(self) -> int:
        """Bytes of the hint layer (0 without one)."""
        return self.width * self.height * HINT_CHANNELS * SAMPLE_FORMATS[self.sample_format] if self.hints else 0

    @property
    def selection_size(self) -> int:
        """Bytes of the selection mask, one per pixel (0 without one)."""
        return self.width * self.height if self.selection else 0

    @property
    def payload_size(self) -> int:
        """Bytes of the whole request payload: pixels, hint layer, selection mask."""
        return self.pixels_size + self.hints_size + self.selection_size

    def split(self, payload: bytes | bytearray | memoryview) -> tuple[memoryview, memoryview | None, memoryview | None]:
        """A request payload as ``(pixels, hint layer or None, selection or None)``, without copying."""
        if len(payload) != self.payload_size:
            raise MessageRefused(f"request carries {len(payload)} bytes, its header says {self.payload_size}")
        view = memoryview(payload)
        hints_end = self.pixels_size + self.hints_size
        return (
            view[: self.pixels_size],
            view[self.pixels_size : hints_end] if self.hints else None,
            view[hints_end:] if self.selection else None,
        )

    def header(self) -> dict[str, Any]:
        return {"type": "colorize", **asdict(self)}

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> ColorizeRequest:
        """Parse a ``colorize`` header; raises :class:`MessageRefused` if it is malformed.

        Every field must have its documented JSON type; nothing is coerced.
        """
        names = ("width", "height", "channels", "sample_format", "working_size", "saturation", "device")
        missing = [name for name in names if name not in header]
        if missing:
            raise MessageRefused(f"malformed colorize request: {', '.join(missing)} missing")
        return cls(**{name: header[name] for name in names}, model=header.get("model"), hints=header.get("hints", False), selection=header.get("selection"))


@dataclass(frozen=True)
class DescribeRequest:
    """Ask for the facts of a model (defaults, option ranges) as loaded on ``device``."""

    device: str = "auto"
    model: str | None = None

    def header(self) -> dict[str, Any]:
        return {"type": "describe", **asdict(self)}

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> DescribeRequest:
        return _parse(cls, header, device=_required(str), model=_optional(str))


@dataclass(frozen=True)
class Ready:
    """The worker is up and speaks ``protocol``; ``tinct`` is its version."""

    protocol: int
    tinct: str

    def header(self) -> dict[str, Any]:
        return {"type": "ready", **asdict(self)}

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> Ready:
        return _parse(cls, header, protocol=_required(int), tinct=str)


@dataclass(frozen=True)
class Description:
    """A model's facts: ``model`` is `tinct.ModelDescriptor.to_dict()` (working size and its
    range, saturation range, chroma scale, decoding temperature, smoothing and hue agreement, geometry)."""

    model: dict[str, Any]

    def header(self) -> dict[str, Any]:
        return {"type": "description", **asdict(self)}

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> Description:
        return _parse(cls, header, model=_required(dict))


@dataclass(frozen=True)
class Progress:
    """The fraction of a colorization done, 0..1, never decreasing."""

    fraction: float

    def header(self) -> dict[str, Any]:
        return {"type": "progress", **asdict(self)}

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> Progress:
        return _parse(cls, header, fraction=_required(float))


@dataclass(frozen=True)
class Result:
    """A colorization's outcome; the payload holds the pixels in the request's layout."""

    width: int
    height: int
    channels: int
    sample_format: str

    def header(self) -> dict[str, Any]:
        return {"type": "result", **asdict(self)}

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> Result:
        return _parse(cls, header, width=_required(int), height=_required(int), channels=_required(int), sample_format=_required(str))


@dataclass(frozen=True)
class ErrorReply:
    """A request failed: ``kind`` is one of :data:`ERROR_KINDS`, ``message`` one line for the user."""

    kind: str
    message: str

    def header(self) -> dict[str, Any]:
        return {"type": "error", **asdict(self)}

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> ErrorReply:
        return _parse(cls, header, kind=lambda value: str(value or "internal"), message=_required(str))


def payload_size_of(header: Mapping[str, Any], max_pixels: int | None = None) -> int:
    """The payload length, in bytes, a message with this header must carry.

    ``colorize`` and ``result`` carry their pixels (width × height × channels × sample
    size); a ``colorize`` with ``"hints"`` also a hint layer (width × height × 4 samples)
    and with a ``"selection"`` a mask (width × height bytes); every other message carries
    none. Raises :class:`MessageRefused` for a malformed layout, or for more than
    ``max_pixels`` pixels (None: no limit).
    """
    if header.get("type") not in ("colorize", "result"):
        return 0
    try:
        width = _whole_number("width", header.get("width"), 1)
        height = _whole_number("height", header.get("height"), 1)
    except MessageRefused:
        raise MessageRefused(f"image size must be positive whole numbers of pixels, got {header.get('width')!r}×{header.get('height')!r}") from None
    if max_pixels is not None and width * height > max_pixels:
        raise MessageRefused(
            f"the image is {width}×{height} = {_pixels(width * height)}, over the worker's limit of {_pixels(max_pixels)}; colorize a smaller selection"
        )
    channels = header.get("channels")
    if type(channels) is not int or channels not in (3, 4):
        raise MessageRefused(f"channels must be 3 (RGB) or 4 (RGBA), got {channels!r}")
    sample_format = header.get("sample_format")
    if not isinstance(sample_format, str) or sample_format not in SAMPLE_FORMATS:
        raise MessageRefused(f"sample format must be one of {', '.join(SAMPLE_FORMATS)}, got {sample_format!r}")
    size = width * height * channels * SAMPLE_FORMATS[sample_format]
    if header.get("type") == "result":
        return size
    hints, selection = header.get("hints", False), header.get("selection")
    if not isinstance(hints, bool):
        raise MessageRefused(f"hints must be true or false, got {hints!r}")
    if selection is not None and (not isinstance(selection, str) or selection not in SELECTION_MODES):
        raise MessageRefused(f"selection must be one of {', '.join(SELECTION_MODES)} or null, got {selection!r}")
    if selection == "alpha" and channels != 4:
        raise MessageRefused("a selection applied as alpha needs RGBA pixels (channels 4)")
    return size + (width * height * HINT_CHANNELS * SAMPLE_FORMATS[sample_format] if hints else 0) + (width * height if selection else 0)


@dataclass(frozen=True)
class Message:
    """One frame: its JSON header (with ``"type"``) and its payload."""

    header: dict[str, Any]
    payload: bytes | bytearray = b""

    @property
    def type(self) -> str:
        return str(self.header.get("type"))


def _read_exact(stream: BinaryIO, size: int, *, at_frame_start: bool = False, keep: bool = True) -> bytearray | None:
    """Exactly ``size`` bytes (or, unless ``keep``, skip them); None if the stream ends right
    at the start of a frame.

    Memory grows with the bytes that actually arrive, in chunks of ``READ_CHUNK_BYTES``,
    never with the size a header announces.
    """
    data = bytearray()
    done = 0
    while done < size:
        chunk = stream.read(min(size - done, READ_CHUNK_BYTES))
        if not chunk:
            if done == 0 and at_frame_start:
                return None
            raise ProtocolError(f"stream ended inside a frame ({done} of {size} bytes read)")
        done += len(chunk)
        if keep:
            data += chunk
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this protocol allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        # RecursionError: a header nested thousands deep; ValueError also covers NaN,
        # Infinity and numbers too long to convert.
        raise MessageRefused(f"frame header is not valid JSON: {type(error).__name__}: {str(error)[:200]}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise MessageRefused("frame header is not an object with a 'type'")
    return header


def read_message(stream: BinaryIO, *, max_pixels: int | None = None) -> Message | None:
    """Read one frame; None if the stream ends cleanly before it.

    Raises :class:`MessageRefused` for a frame read whole whose message is malformed (the
    stream can go on) and :class:`ProtocolError` for a broken stream. ``max_pixels``
    limits the pixels of a ``colorize`` or ``result`` message (see `payload_size_of`).
    """
    prefix = _read_exact(stream, _FRAME.size, at_frame_start=True)
    if prefix is None:
        return None
    header_size, payload_size = _FRAME.unpack(prefix)
    if header_size > MAX_HEADER_BYTES:
        raise ProtocolError(f"frame header of {header_size:,} bytes, over the limit of {MAX_HEADER_BYTES:,}: not a tinct worker stream")
    raw_header = bytes(_read_exact(stream, header_size) or b"")
    try:
        header = _parse_header(raw_header)
        expected = payload_size_of(header, max_pixels)
        if payload_size != expected:
            raise MessageRefused(f"a {header['type']!r} message carries {payload_size:,} bytes of payload, its header implies {expected:,}")
    except MessageRefused:
        _read_exact(stream, payload_size, keep=False)
        raise
    return Message(header, _read_exact(stream, payload_size) or b"")


def write_message(stream: BinaryIO, header: Mapping[str, Any], *payload: bytes | bytearray | memoryview) -> None:
    """Write one frame, its payload the concatenation of the ``payload`` parts, and flush it."""
    raw_header = json.dumps(header, separators=(",", ":")).encode("utf-8")
    stream.write(_FRAME.pack(len(raw_header), sum(len(part) for part in payload)))
    stream.write(raw_header)
    for part in payload:
        if len(part):
            stream.write(part)
    stream.flush()


def _settings_from_config(host: str, folder: Path) -> tuple[str, str | None]:
    """The worker's Python and model from the environment and ``folder/tinct-plugin.json``."""
    config_path = folder / CONFIG_NAME
    config: Any = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WorkerError(f"{config_path} cannot be read ({error}): run `tinct install-plugin {host}` again", "setup") from None
        if not isinstance(config, dict):
            raise WorkerError(f"{config_path} is not a JSON object: run `tinct install-plugin {host}` again", "setup")
    python = os.environ.get(PYTHON_ENV) or config.get("python")
    if not python:
        raise WorkerError(
            f"tinct is not set up for this plug-in: run `tinct install-plugin {host}` in your tinct "
            f"environment, or set {PYTHON_ENV} to that environment's python",
            "setup",
        )
    model = os.environ.get(MODEL_ENV) or config.get("model")
    return str(python), None if model is None else str(model)


class WorkerClient:
    """The plug-in side: starts the worker, sends requests, relays progress, returns pixels.

    The worker starts on the first :meth:`colorize` and stays up for later ones (the model
    stays loaded) until :meth:`close`; a cancel or crash stops it and the next call starts a
    new one. Use it as a context manager.

    Parameters
    ----------
    python
        The interpreter of the tinct environment.
    model
        Model file used when a request names none; None = the model shipped with tinct.
    host
        ``"gimp"`` or ``"krita"``: named in the advice of error messages.
    start_timeout, silence_timeout
        Seconds to wait for the worker's ``ready``, and for its next message while it
        works (it sends one at least every ``HEARTBEAT_SECONDS``); past them the worker is
        killed and :class:`WorkerError` (kind ``"unresponsive"``) raised.
    """

    def __init__(
        self,
        python: str,
        *,
        model: str | None = None,
        host: str = "gimp",
        start_timeout: float = START_TIMEOUT_SECONDS,
        silence_timeout: float = SILENCE_TIMEOUT_SECONDS,
    ) -> None:
        self.python = python
        self.model = model
        self.host = host
        self.start_timeout = start_timeout
        self.silence_timeout = silence_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[Message | None] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES_KEPT)
        self._stderr_reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The running worker's process id; None before the first request or after a stop."""
        return None if self._process is None else self._process.pid

    @classmethod
    def from_plugin_folder(cls, host: str, folder: str | os.PathLike[str] | None = None) -> WorkerClient:
        """A client set up as ``tinct install-plugin`` left it (see the module docstring).

        ``folder`` holds ``tinct-plugin.json``; by default, the folder of this file.
        Raises :class:`WorkerError` (kind ``"setup"``) if no Python is configured.
        """
        python, model = _settings_from_config(host, Path(folder) if folder else Path(__file__).parent)
        return cls(python, model=model, host=host)

    def __enter__(self) -> WorkerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _advice(self) -> str:
        return (
            f"check that tinct is installed there: run `tinct install-plugin {self.host}` in your tinct "
            f"environment, or set {PYTHON_ENV} to that environment's python"
        )

    def _last_stderr_line(self) -> str:
        if self._stderr_reader is not None:
            self._stderr_reader.join(_EXIT_WAIT_SECONDS)
        return next((line for line in reversed(self._stderr_tail) if line), "no error output")

    @staticmethod
    def _collect_replies(stream: BinaryIO, replies: queue.Queue[Message | None]) -> None:
        """Pass the worker's messages on; None when its stdout ends or stops making sense."""
        try:
            while (message := read_message(stream)) is not None:
                replies.put(message)
        except Exception:  # a broken stream: the worker is treated as dead
            pass
        finally:
            stream.close()  # this thread owns the stream: closing it elsewhere would wait for this read
        replies.put(None)

    def _collect_stderr(self, stream: BinaryIO) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr_tail.append(line)
            if sys.stderr is not None:
                print(f"tinct worker: {line}", file=sys.stderr)

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is not None:
            return self._process
        executable = shutil.which(self.python)
        if executable is None:
            raise WorkerError(f"the tinct python {self.python} does not exist: {self._advice}", "setup")
        env = {key: value for key, value in os.environ.items() if key not in _FOREIGN_PYTHON_VARIABLES}
        try:
            process = subprocess.Popen(
                [executable, "-m", "tinct.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
        except OSError as error:
            raise WorkerError(f"cannot start the tinct python {self.python} ({error}): {self._advice}", "setup") from None
        self._stderr_tail.clear()
        self._stderr_reader = threading.Thread(target=self._collect_stderr, args=(process.stderr,), daemon=True)
        self._stderr_reader.start()
        self._replies = queue.Queue()
        threading.Thread(target=self._collect_replies, args=(process.stdout, self._replies), daemon=True).start()
        self._process = process
        ready = self._receive(starting=True)
        if ready.type != "ready":
            self._stop()
            raise WorkerError(f"the tinct worker said {ready.type!r} instead of 'ready': {self._advice}", "crashed")
        protocol = ready.header.get("protocol")
        if protocol != PROTOCOL_VERSION:
            self._stop()
            raise WorkerError(
                f"this plug-in speaks worker protocol {PROTOCOL_VERSION} but the tinct in {self.python} speaks "
                f"{protocol}: run `tinct install-plugin {self.host}` again in that tinct environment",
                "setup",
            )
        return process

    def _stop(self) -> None:
        """Terminate the worker (if running) and forget it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdin is not None:
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass

    def _died(self, starting: bool) -> WorkerError:
        """The error for a worker that stopped talking, after reaping it."""
        process = self._process
        assert process is not None
        try:
            status = process.wait(_EXIT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            status = None
        self._stop()
        last = self._last_stderr_line()
        if starting:
            return WorkerError(
                f"the tinct worker ({self.python} -m tinct.worker) stopped before it was ready "
                f"(exit status {status}): {last}; {self._advice}",
                "setup",
            )
        return WorkerError(f"the tinct worker crashed (exit status {status}): {last}", "crashed")

    def _receive(self, starting: bool = False) -> Message:
        """The worker's next message; kills it and raises if it dies or stays silent too long."""
        timeout = self.start_timeout if starting else self.silence_timeout
        try:
            message = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._stop()
            raise WorkerError(
                f"the tinct worker did not answer for {timeout:g} seconds and was stopped: {self._last_stderr_line()}; "
                "try again, or choose the CPU device",
                "unresponsive",
            ) from None
        if message is None:
            raise self._died(starting)
        return message

    def _send(self, header: Mapping[str, Any], *payload: bytes | bytearray | memoryview) -> None:
        process = self._start()
        assert process.stdin is not None
        try:
            write_message(process.stdin, header, *payload)
        except (BrokenPipeError, ConnectionResetError):
            raise self._died(starting=False) from None

    def _reply(self, expected: str, progress: Callable[[float], bool | None] | None = None) -> Message:
        """The worker's answer, of type ``expected``, to the request just sent.

        The ``progress`` messages before it (the heartbeat of a busy worker, sent while it
        loads a model too) go to ``progress`` if given, which may cancel as in
        :meth:`colorize`; each message must come within ``silence_timeout``. Raises
        :class:`WorkerError` for an ``error`` reply or any other message.
        """
        while True:
            message = self._receive()
            if message.type != "progress":
                break
            if progress is None:
                continue
            try:
                keep_going = progress(Progress.from_header(message.header).fraction)
            except BaseException:
                self._stop()
                raise
            if keep_going is False:
                self._stop()
                raise WorkerCancelled()
        if message.type == "error":
            error = ErrorReply.from_header(message.header)
            raise WorkerError(error.message, error.kind)
        if message.type != expected:
            self._stop()
            raise WorkerError(f"the tinct worker sent an unexpected {message.type!r} message: {self._advice}", "crashed")
        return message

    def describe(self, *, device: str = "auto", model: str | None = None) -> dict[str, Any]:
        """The model's facts (see :class:`Description`): its calibrated ``working_size``, the
        ``working_size_range`` and ``saturation_range`` a dialog should offer, and more.

        ``model`` None means the client's model. Loading it may take long on a busy
        machine: the worker's heartbeats meanwhile keep the client waiting, and only a
        silence of ``silence_timeout`` stops it. Raises :class:`WorkerError` on every failure.
        """
        self._send(DescribeRequest(device=device, model=model if model is not None else self.model).header())
        return Description.from_header(self._reply("description").header).model

    def colorize(
        self,
        request: ColorizeRequest,
        pixels: bytes | bytearray | memoryview,
        progress: Callable[[float], bool | None] | None = None,
        *,
        hints: bytes | bytearray | memoryview | None = None,
        selection: bytes | bytearray | memoryview | None = None,
    ) -> bytes | bytearray:
        """Colorize ``pixels`` (laid out as ``request`` says) and return the result pixels.

        ``hints`` (the hint layer) and ``selection`` (the mask) must be given exactly when
        the request says so, in its sample format. ``progress`` receives fractions in
        [0, 1]; returning False cancels (the worker is terminated and
        :class:`WorkerCancelled` raised), raising cancels too and the exception
        propagates. Raises :class:`WorkerError` on every failure.
        """
        parts = [(pixels, request.pixels_size, "pixels"), (hints, request.hints_size, "hint layer"), (selection, request.selection_size, "selection mask")]
        for data, size, name in parts:
            if (data is None and size) or (data is not None and len(data) != size):
                raise ValueError(f"{0 if data is None else len(data)} bytes of {name} do not fit a request needing {size}")
        if request.model is None and self.model is not None:
            request = replace(request, model=self.model)
        self._send(request.header(), *(data for data, size, _ in parts if data is not None))
        message = self._reply("result", progress)
        if len(message.payload) != request.pixels_size:
            self._stop()
            raise WorkerError(f"the tinct worker sent {len(message.payload)} bytes instead of {request.pixels_size}", "crashed")
        return message.payload

    def close(self) -> None:
        """Let the worker finish (its stdin closes) and wait for it; kill it if it lingers."""
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        try:
            process.stdin.close()
            process.wait(_EXIT_WAIT_SECONDS)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            pass
        self._stop()
