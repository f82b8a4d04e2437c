"""Hostile input to the worker protocol and the worker (issue classes 1, 2 and 10).

A plug-in host, or anything else that can write to the worker's stdin, must never make
the worker allocate what a header merely announces, never make it hang, and always get
an ``error`` reply of the right kind; the plug-in side must never wait forever.
"""

from __future__ import annotations

import io
import json
import resource
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tinct.worker as worker_module
from fake_workers import make_fake_python
from hostile_models import with_metadata
from tinct.worker import serve
from tinct.worker_protocol import (
    MAX_HEADER_BYTES,
    PROTOCOL_VERSION,
    ColorizeRequest,
    MessageRefused,
    ProtocolError,
    WorkerClient,
    WorkerError,
    read_message,
    write_message,
)

GIB = 1 << 30
# The worker runs under this address-space limit: about twice what it needs to import
# torch and colorize a small image, far below what the hostile frames announce.
WORKER_MEMORY_LIMIT = 3 * GIB
REPLY_SECONDS = 30
# A float32 RGBA layout announcing 4 GiB of pixels: under the default pixel limit.
HUGE_LAYOUT = {"width": 16384, "height": 16384, "channels": 4, "sample_format": "float32"}


def frame(header: dict | str | bytes, payload_size: int, payload: bytes = b"") -> bytes:
    """One raw frame whose prefix announces ``payload_size`` bytes, followed by ``payload`` only."""
    raw = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<IQ", len(raw), payload_size) + raw + payload


def colorize_header(**fields: object) -> dict:
    return {**ColorizeRequest(2, 2, 3, "uint16", working_size=16).header(), **fields}


def raw_request(header: dict, payload: bytes) -> bytes:
    return frame(header, len(payload), payload)


# --- class 1: a header's announcement costs nothing until the bytes arrive -------------


def test_announced_gigabytes_are_never_allocated() -> None:
    stream = io.BytesIO(frame({"type": "colorize", **HUGE_LAYOUT}, 4 * GIB, b"\x00" * 100))
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="stream ended inside a frame"):
            read_message(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"reading a 172-byte frame allocated {peak:,} bytes"


@pytest.mark.parametrize("announced", [0, 47, 49, 2 * GIB, 10 * GIB])
def test_payload_must_be_what_the_header_implies(announced: int) -> None:
    header = colorize_header(channels=3, sample_format="float32")  # 2×2×3 float32 = 48 bytes
    data = frame(header, announced, b"\x00" * min(announced, 64)) + frame({"type": "ping"}, 0)
    stream = io.BytesIO(data)
    if announced <= 64:  # the whole wrong frame is there: it is refused and the stream goes on
        with pytest.raises(MessageRefused, match=f"carries {announced:,} bytes of payload, its header implies 48"):
            read_message(stream)
        assert read_message(stream).type == "ping"
    else:  # skipping it runs into the end of the stream
        with pytest.raises(ProtocolError, match="stream ended inside a frame"):
            read_message(stream)


@pytest.mark.parametrize("message_type", ["progress", "ready", "error", "sharpen"])
def test_messages_without_pixels_carry_no_payload(message_type: str) -> None:
    with pytest.raises(MessageRefused, match="carries 5 bytes of payload, its header implies 0"):
        read_message(io.BytesIO(frame({"type": message_type}, 5, b"xxxxx")))


def test_oversized_header_is_refused_unread() -> None:
    with pytest.raises(ProtocolError, match=f"over the limit of {MAX_HEADER_BYTES:,}"):
        read_message(io.BytesIO(struct.pack("<IQ", MAX_HEADER_BYTES + 1, 0) + b"{" * 100))


def test_pixel_limit_names_the_limit_in_pixels() -> None:
    header = colorize_header(width=64, height=48)
    stream = io.BytesIO(raw_request(header, b"\x00" * (64 * 48 * 3 * 2)) + frame({"type": "ping"}, 0))
    with pytest.raises(MessageRefused, match="64×48 = 3,072 pixels, over the worker's limit of 1,000 pixels"):
        read_message(stream, max_pixels=1000)
    assert read_message(stream).type == "ping", "a refused request is consumed whole"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"width": "64"}, "image size"),
        ({"width": True}, "image size"),
        ({"width": 2.5}, "image size"),
        ({"height": -2}, "image size"),
        ({"height": None}, "image size"),
        ({"channels": 3.0}, "channels"),
        ({"channels": [3]}, "channels"),
        ({"sample_format": ["uint16"]}, "sample format"),
    ],
)
def test_malformed_layouts_are_refused(fields: dict, problem: str) -> None:
    with pytest.raises(MessageRefused, match=problem):
        read_message(io.BytesIO(raw_request(colorize_header(**fields), b"")))


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_numbers_are_refused(literal: str) -> None:
    raw = json.dumps(colorize_header()).replace('"working_size": 16', f'"working_size": {literal}')
    assert literal in raw
    with pytest.raises(MessageRefused, match="not valid JSON"):
        read_message(io.BytesIO(frame(raw, 24, b"\x00" * 24)))


def test_deeply_nested_header_is_refused() -> None:
    nested = '{"type": "colorize", "x": ' + "[" * 20_000 + "]" * 20_000 + "}"
    stream = io.BytesIO(frame(nested, 0) + frame({"type": "ping"}, 0))
    with pytest.raises(MessageRefused, match="RecursionError"):
        read_message(stream)
    assert read_message(stream).type == "ping"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"working_size": "512"}, "working_size must be a whole number"),
        ({"working_size": 512.0}, "working_size must be a whole number"),
        ({"saturation": "1"}, "saturation must be a finite number"),
        ({"saturation": None}, "saturation must be a finite number"),
        ({"device": 0}, "device must be a name"),
        ({"model": ["/m"]}, "model must be a file path"),
    ],
)
def test_request_options_have_their_documented_types(fields: dict, problem: str) -> None:
    with pytest.raises(MessageRefused, match=problem):
        ColorizeRequest.from_header(colorize_header(**fields))


def test_request_without_its_fields_is_refused() -> None:
    with pytest.raises(MessageRefused, match="working_size, saturation missing"):
        ColorizeRequest.from_header({key: value for key, value in colorize_header().items() if key not in ("working_size", "saturation")})


# --- class 2: the worker answers or exits, whatever its reading thread meets -------------


class ExplodingStream(io.RawIOBase):
    """A request stream whose reads raise ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise self.error


def replies_of(stream: io.BytesIO) -> list[dict]:
    stream.seek(0)
    messages = []
    while (message := read_message(stream)) is not None:
        messages.append(message.header)
    return messages


def serve_in_thread(requests: io.RawIOBase | io.BytesIO, **options: object) -> tuple[int, list[dict]]:
    """Run `serve` (on requests that never reach a colorization) and return its status and replies."""
    replies = io.BytesIO()
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(serve(requests, replies, **options)), daemon=True)
    thread.start()
    thread.join(REPLY_SECONDS)
    assert not thread.is_alive(), "the worker hung"
    return outcome[0], replies_of(replies)


@pytest.mark.parametrize(
    ("error", "kind"),
    [(MemoryError(), "memory"), (RecursionError("maximum recursion depth exceeded"), "internal"), (OSError(5, "Input/output error"), "internal")],
)
def test_any_failure_reading_requests_gets_a_reply_and_an_exit(error: BaseException, kind: str) -> None:
    status, replies = serve_in_thread(ExplodingStream(error))
    assert status == 1
    assert replies[0]["type"] == "ready"
    assert [(reply["type"], reply["kind"]) for reply in replies[1:]] == [("error", kind)]
    assert "\n" not in replies[1]["message"]


def test_refused_requests_are_answered_and_the_worker_goes_on_to_the_end_of_stdin() -> None:
    requests = io.BytesIO(
        frame('{"type": "colorize", "x": ' + "[" * 20_000 + "]" * 20_000 + "}", 0)
        + frame(json.dumps(colorize_header()).replace('"width": 2', '"width": Infinity'), 24, b"\x00" * 24)
        + raw_request(colorize_header(width=64, height=48), b"\x00" * (64 * 48 * 6))
        + frame({"type": "sharpen"}, 0)
    )
    status, replies = serve_in_thread(requests, max_pixels=1000)
    assert status == 0, "the end of stdin ends the worker"
    assert [(reply["type"], reply.get("kind")) for reply in replies] == [("ready", None)] + [("error", "request")] * 4
    assert "over the worker's limit of 1,000 pixels" in replies[3]["message"]


def test_a_broken_stream_is_answered_and_ends_the_worker() -> None:
    status, replies = serve_in_thread(io.BytesIO(b"Traceback (most recent call last):\n" * 4))
    assert status == 1 and [(reply["type"], reply.get("kind")) for reply in replies] == [("ready", None), ("error", "request")]


def test_heartbeat_repeats_progress_while_working_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "HEARTBEAT_SECONDS", 0.02)
    stream = io.BytesIO()
    sender = worker_module._Replies(stream)
    beating = threading.Thread(target=sender.beat, daemon=True)
    beating.start()
    time.sleep(0.2)
    assert stream.getvalue() == b"", "no heartbeat while idle"
    sender.start_request()
    sender.progress(0.25)
    time.sleep(0.3)
    sender.send({"type": "error", "kind": "tinct", "message": "done"})
    after = len(stream.getvalue())
    time.sleep(0.2)
    sender.stop()
    beating.join(5)
    messages = replies_of(stream)
    assert len(stream.getvalue()) == after, "no heartbeat after the request ended"
    fractions = [message["fraction"] for message in messages if message["type"] == "progress"]
    assert len(fractions) >= 4 and set(fractions) == {0.25} and messages[-1]["type"] == "error"


# --- the real worker process, under a memory limit ----------------------------------------


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_LIMIT, WORKER_MEMORY_LIMIT))


@pytest.fixture
def bounded_worker() -> Iterator[subprocess.Popen[bytes]]:
    """``python -m tinct.worker`` limited to `WORKER_MEMORY_LIMIT` of address space, after its ``ready``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tinct.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit_memory
    )
    ready = read_message(process.stdout)
    assert ready is not None and ready.type == "ready"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stderr.close()


def reply_within_seconds(process: subprocess.Popen[bytes]) -> dict:
    """The worker's next message other than progress, waiting at most `REPLY_SECONDS`."""
    found: list[dict | None] = []

    def read() -> None:
        while (message := read_message(process.stdout)) is not None and message.type == "progress":
            pass
        found.append(None if message is None else message.header)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(REPLY_SECONDS)
    assert found, f"the worker gave no reply within {REPLY_SECONDS} s"
    assert found[0] is not None, "the worker's stdout ended without a reply"
    return found[0]


def send(process: subprocess.Popen[bytes], data: bytes) -> None:
    process.stdin.write(data)
    process.stdin.flush()


def test_worker_under_a_memory_limit_answers_every_hostile_request(
    bounded_worker: subprocess.Popen[bytes], untrained_model_file: Path, tmp_path: Path
) -> None:
    huge_widths = with_metadata(untrained_model_file, tmp_path / "huge.safetensors", lambda m: m["config"].update(widths=[100000, 100000, 100000]))
    pixels = np.full((2, 2, 3), 30000, dtype="<u2").tobytes()
    hostile = [
        (frame('{"type": "colorize", "x": ' + "[" * 20_000 + "]" * 20_000 + "}", 0), "request", "RecursionError"),
        (frame(json.dumps(colorize_header()).replace('"width": 2', '"width": Infinity'), 24, pixels), "request", "Infinity"),
        (raw_request(colorize_header(saturation="lots"), pixels), "request", "saturation"),
        (raw_request(colorize_header(model=str(huge_widths)), pixels), "model", "widths"),
        (raw_request(colorize_header(model=str(tmp_path / "none.safetensors")), pixels), "model", "does not exist"),
        (frame(colorize_header(), 2 * GIB, pixels + b"\x00" * 150), None, None),  # a wrong length whose bytes never come
    ]
    for data, kind, words in hostile[:-1]:
        send(bounded_worker, data)
        reply = reply_within_seconds(bounded_worker)
        assert (reply["type"], reply["kind"]) == ("error", kind), reply
        assert words in reply["message"]
    send(bounded_worker, raw_request(colorize_header(model=str(untrained_model_file)), pixels))
    assert reply_within_seconds(bounded_worker)["type"] == "result", "the worker still serves after hostile requests"
    send(bounded_worker, hostile[-1][0])
    bounded_worker.stdin.close()
    reply = reply_within_seconds(bounded_worker)
    assert (reply["type"], reply["kind"]) == ("error", "request") and "stream ended inside a frame" in reply["message"]
    assert bounded_worker.wait(REPLY_SECONDS) == 1
    assert b"MemoryError" not in bounded_worker.stderr.read()


def test_worker_under_a_memory_limit_reads_a_huge_announcement_without_allocating(bounded_worker: subprocess.Popen[bytes]) -> None:
    send(bounded_worker, frame({"type": "colorize", **HUGE_LAYOUT, "working_size": 16, "saturation": 1, "device": "cpu"}, 4 * GIB, b"\x00" * 100))
    time.sleep(1)
    assert bounded_worker.poll() is None, "the worker died reading a huge announcement"
    bounded_worker.stdin.close()
    reply = reply_within_seconds(bounded_worker)
    assert (reply["type"], reply["kind"]) == ("error", "request")
    assert bounded_worker.wait(REPLY_SECONDS) == 1


# --- the plug-in side never waits forever -------------------------------------------------


@pytest.mark.parametrize(("mode", "words"), [("never-ready", "did not answer for 2 seconds"), ("silent", "did not answer for 2 seconds")])
def test_client_gives_up_on_a_silent_worker(tmp_path: Path, mode: str, words: str) -> None:
    with WorkerClient(str(make_fake_python(tmp_path, mode)), start_timeout=2, silence_timeout=2) as client:
        started = time.monotonic()
        with pytest.raises(WorkerError, match=words) as caught:
            client.colorize(ColorizeRequest(2, 2, 3), b"\x00" * 48)
        assert time.monotonic() - started < 20
        assert caught.value.kind == "unresponsive" and client.pid is None


def test_client_sees_a_worker_that_dies_without_a_word(tmp_path: Path) -> None:
    script = tmp_path / "dying-python"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import os; os.write(1, b\"\"); os._exit(9)'\n")
    script.chmod(0o755)
    with WorkerClient(str(script), start_timeout=60) as client:
        with pytest.raises(WorkerError, match=r"stopped before it was ready \(exit status 9\)"):
            client.colorize(ColorizeRequest(2, 2, 3), b"\x00" * 48)

