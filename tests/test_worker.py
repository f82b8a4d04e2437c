"""The worker protocol and the real worker process (``python -m tinct.worker``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from skimage.color import rgb2gray
from skimage.transform import resize

import tinct
from colour_checks import GRAY_MAX_CHROMA, HIGH_PRECISION_LIGHTNESS_TOLERANCE, assert_coloured_with_same_lightness, mean_chroma
from crashing_worker import CRASH_MESSAGE, make_crashing_python
from slow_loading_worker import make_slow_loading_python
from tinct.worker import EXIT_PARENT_GONE
from tinct import worker_protocol
from tinct.worker_protocol import (
    CONFIG_NAME,
    HEARTBEAT_SECONDS,
    MODEL_ENV,
    PROTOCOL_VERSION,
    PYTHON_ENV,
    ColorizeRequest,
    Description,
    ErrorReply,
    Progress,
    ProtocolError,
    Ready,
    Result,
    WorkerCancelled,
    WorkerClient,
    WorkerError,
    read_message,
    write_message,
)

SIDE = 96
# One uint16 RGB pixel: a 6-byte payload.
TINY_LAYOUT = {"width": 1, "height": 1, "channels": 3, "sample_format": "uint16"}
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def model_path(untrained_model_file: Path) -> str:
    return str(untrained_model_file)


@pytest.fixture(scope="module")
def client(model_path: str) -> Iterator[WorkerClient]:
    with WorkerClient(sys.executable, model=model_path) as shared:
        yield shared


@pytest.fixture(scope="module")
def gray_rgba() -> np.ndarray:
    """The astronaut made gray, with an alpha ramp: float32 ``(SIDE, SIDE, 4)`` in [0, 1]."""
    gray = resize(rgb2gray(skimage.data.astronaut()), (SIDE, SIDE), anti_aliasing=True).astype(np.float32)
    alpha = np.tile(np.linspace(0.0, 1.0, SIDE, dtype=np.float32), (SIDE, 1))
    return np.dstack([gray, gray, gray, alpha])


def request_for(pixels: np.ndarray, **options: object) -> ColorizeRequest:
    sample_format = {np.dtype(np.float32): "float32", np.dtype(np.uint16): "uint16"}[pixels.dtype]
    height, width, channels = pixels.shape
    return ColorizeRequest(width, height, channels, sample_format, **{"working_size": SIDE, **options})


# --- framing ----------------------------------------------------------------------------


def test_frames_round_trip_and_end_cleanly() -> None:
    stream = io.BytesIO()
    write_message(stream, {"type": "progress", "fraction": 0.25})
    write_message(stream, {"type": "result", **TINY_LAYOUT}, b"\x00\x01\x02\x03\x04\x05")
    stream.seek(0)
    first, second = read_message(stream), read_message(stream)
    assert first is not None and second is not None
    assert (first.type, first.header["fraction"], first.payload) == ("progress", 0.25, b"")
    assert (second.type, bytes(second.payload)) == ("result", b"\x00\x01\x02\x03\x04\x05")
    assert read_message(stream) is None


@pytest.mark.parametrize("cut", [3, 20, -1])
def test_truncated_frame_is_a_protocol_error(cut: int) -> None:
    stream = io.BytesIO()
    write_message(stream, {"type": "result", **TINY_LAYOUT}, b"pixels")
    with pytest.raises(ProtocolError):
        read_message(io.BytesIO(stream.getvalue()[:cut]))


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_message(io.BytesIO(b"Traceback (most recent call last):\n" * 4))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [({"channels": 2}, "channels"), ({"sample_format": "uint8"}, "sample format"), ({"width": 0}, "size")],
)
def test_request_checks_its_layout(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        ColorizeRequest(**{"width": 4, "height": 4, "channels": 3, **fields})


@pytest.mark.parametrize(
    "request_",
    [
        ColorizeRequest(5, 3, 4, "uint16", working_size=256, saturation=1.5, device="cpu", model="/m.safetensors"),
        ColorizeRequest(5, 3, 4, hints=True, selection="alpha"),
    ],
)
def test_request_header_round_trips(request_: ColorizeRequest) -> None:
    assert ColorizeRequest.from_header(json.loads(json.dumps(request_.header()))) == request_


@pytest.mark.parametrize(
    "reply",
    [Ready(2, "0.1.0"), Description({"working_size": 320, "working_size_range": [16, 16384]}), Progress(0.5), Result(3, 2, 4, "uint16"), ErrorReply("image", "bad")],
)
def test_replies_are_typed_and_round_trip(reply: object) -> None:
    header = json.loads(json.dumps(reply.header()))
    assert type(reply).from_header(header) == reply


def test_malformed_reply_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="fraction"):
        Progress.from_header({"type": "progress", "fraction": "most"})
    with pytest.raises(ProtocolError, match="width"):
        Result.from_header({"type": "result", "height": 2, "channels": 3, "sample_format": "float32"})


def test_request_payload_splits_into_pixels_hints_and_selection() -> None:
    request = ColorizeRequest(3, 2, 3, "uint16", hints=True, selection="blend")
    payload = bytes(range(3 * 2 * 3 * 2)) + b"h" * (3 * 2 * 4 * 2) + b"s" * (3 * 2)
    pixels, hints, selection = request.split(payload)
    assert (bytes(pixels), bytes(hints), bytes(selection)) == (payload[:36], b"h" * 48, b"s" * 6)
    with pytest.raises(ProtocolError, match="alpha needs RGBA"):
        ColorizeRequest(3, 2, 3, selection="alpha")


def test_pixels_must_fit_the_request(client: WorkerClient) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        client.colorize(ColorizeRequest(4, 4, 3), b"\x00" * 10)


# --- finding the worker's Python --------------------------------------------------------


def test_plugin_folder_config_gives_python_and_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    monkeypatch.delenv(MODEL_ENV, raising=False)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"python": "/envs/tinct/bin/python", "model": "/models/a.safetensors"}))
    configured = WorkerClient.from_plugin_folder("krita", tmp_path)
    assert (configured.python, configured.model, configured.host) == ("/envs/tinct/bin/python", "/models/a.safetensors", "krita")


def test_environment_overrides_plugin_folder_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"python": "/envs/tinct/bin/python", "model": "/models/a.safetensors"}))
    monkeypatch.setenv(PYTHON_ENV, "/other/python")
    monkeypatch.setenv(MODEL_ENV, "/models/b.safetensors")
    configured = WorkerClient.from_plugin_folder("gimp", tmp_path)
    assert (configured.python, configured.model) == ("/other/python", "/models/b.safetensors")


def test_unconfigured_plugin_says_how_to_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    with pytest.raises(WorkerError, match=r"tinct install-plugin gimp.*TINCT_PYTHON") as caught:
        WorkerClient.from_plugin_folder("gimp", tmp_path)
    assert caught.value.kind == "setup"


def test_damaged_config_says_to_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    (tmp_path / CONFIG_NAME).write_text("{not json")
    with pytest.raises(WorkerError, match="install-plugin krita"):
        WorkerClient.from_plugin_folder("krita", tmp_path)


def test_missing_python_says_how_to_set_up(tmp_path: Path) -> None:
    with WorkerClient(str(tmp_path / "no-python"), host="krita") as missing:
        with pytest.raises(WorkerError, match=r"does not exist.*tinct install-plugin krita.*TINCT_PYTHON") as caught:
            missing.colorize(ColorizeRequest(1, 1, 3), b"\x00" * 12)
    assert caught.value.kind == "setup"


def test_python_without_tinct_says_so(tmp_path: Path) -> None:
    base_python = Path(sys.base_prefix, "bin", "python3")
    if not base_python.is_file():
        pytest.skip("no base interpreter at sys.base_prefix/bin/python3")
    probe = subprocess.run([base_python, "-c", "import tinct"], env={}, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the base interpreter has tinct installed too")
    with WorkerClient(str(base_python)) as foreign:
        with pytest.raises(WorkerError, match=r"stopped before it was ready.*No module named.*tinct install-plugin gimp"):
            foreign.colorize(ColorizeRequest(1, 1, 3), b"\x00" * 12)


# --- colorizing through the real worker ---------------------------------------------------


def test_float32_round_trip_colours_and_keeps_lightness_and_alpha(client: WorkerClient, gray_rgba: np.ndarray) -> None:
    fractions: list[float] = []
    result = client.colorize(request_for(gray_rgba), gray_rgba.tobytes(), fractions.append)
    colour = np.frombuffer(result, dtype="<f4").reshape(gray_rgba.shape)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert_coloured_with_same_lightness(gray_rgba, colour, HIGH_PRECISION_LIGHTNESS_TOLERANCE)
    np.testing.assert_array_equal(colour[..., 3], gray_rgba[..., 3])


def test_uint16_round_trip_keeps_sixteen_bits(client: WorkerClient, gray_rgba: np.ndarray) -> None:
    samples = np.rint(gray_rgba * 65535).astype("<u2")
    result = client.colorize(request_for(samples), samples.tobytes())
    colour = np.frombuffer(result, dtype="<u2").reshape(samples.shape)
    np.testing.assert_array_equal(colour[..., 3], samples[..., 3])
    assert np.isin(colour[..., :3], np.arange(256) * 257).mean() < 0.1, "the colour is rounded to 8 bits"
    assert_coloured_with_same_lightness(samples / 65535, colour / 65535, HIGH_PRECISION_LIGHTNESS_TOLERANCE)


def test_saturation_zero_gives_gray(client: WorkerClient, gray_rgba: np.ndarray) -> None:
    result = client.colorize(request_for(gray_rgba, saturation=0.0), gray_rgba.tobytes())
    assert mean_chroma(np.frombuffer(result, dtype="<f4").reshape(gray_rgba.shape)) < GRAY_MAX_CHROMA


def test_worker_reports_tinct_errors_and_keeps_serving(client: WorkerClient, gray_rgba: np.ndarray, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.safetensors"
    with pytest.raises(WorkerError, match="no-such-model.safetensors") as caught:
        client.colorize(request_for(gray_rgba, model=str(missing)), gray_rgba.tobytes())
    assert caught.value.kind == "model"
    pid = client.pid
    with pytest.raises(WorkerError, match="unknown device") as caught:
        client.colorize(request_for(gray_rgba, device="abacus"), gray_rgba.tobytes())
    assert caught.value.kind == "device"
    with pytest.raises(WorkerError, match="working size") as caught:
        client.colorize(request_for(gray_rgba, working_size=3), gray_rgba.tobytes())
    assert caught.value.kind == "tinct"
    client.colorize(request_for(gray_rgba), gray_rgba.tobytes())
    assert client.pid == pid, "errors must not restart the worker"


def test_describe_gives_the_models_defaults_and_ranges(client: WorkerClient, model_path: str) -> None:
    facts = client.describe(device="cpu")
    descriptor = tinct.load_model(model_path, device="cpu").descriptor
    assert facts == json.loads(json.dumps(descriptor.to_dict()))
    assert facts["working_size_range"] == list(descriptor.working_size_range)


def test_describe_waits_through_heartbeats_while_the_model_loads(tmp_path: Path, model_path: str) -> None:
    """GIMP and Krita describe the model to open their dialogs; on a busy machine loading it
    outlasts a heartbeat or two, which must not read as an unexpected message."""
    with WorkerClient(str(make_slow_loading_python(tmp_path)), model=model_path) as slow:
        facts = slow.describe(device="cpu")
    assert facts == json.loads(json.dumps(tinct.load_model(model_path, device="cpu").descriptor.to_dict()))


def test_describe_still_gives_up_on_a_worker_silent_too_long(tmp_path: Path, model_path: str) -> None:
    """Heartbeats ``HEARTBEAT_SECONDS`` apart are too long a silence for a client that waits half that."""
    with WorkerClient(str(make_slow_loading_python(tmp_path)), model=model_path, silence_timeout=HEARTBEAT_SECONDS / 2) as impatient:
        with pytest.raises(WorkerError, match=f"did not answer for {HEARTBEAT_SECONDS / 2:g} seconds") as caught:
            impatient.describe(device="cpu")
        assert caught.value.kind == "unresponsive" and impatient.pid is None


def test_absent_working_size_is_the_models(client: WorkerClient, gray_rgba: np.ndarray, model_path: str) -> None:
    colorizer = tinct.load_model(model_path, device="cpu")
    result = client.colorize(request_for(gray_rgba, working_size=None), gray_rgba.tobytes())
    expected = colorizer.colorize(gray_rgba, working_size=colorizer.descriptor.working_size)
    np.testing.assert_allclose(np.frombuffer(result, dtype="<f4").reshape(gray_rgba.shape), expected, atol=1e-5)


def test_hint_layer_reaches_the_model(client: WorkerClient, gray_rgba: np.ndarray, model_path: str) -> None:
    layer = np.zeros_like(gray_rgba)
    layer[40:48, 40:48] = (0.9, 0.1, 0.1, 1.0)
    result = client.colorize(request_for(gray_rgba, hints=True), gray_rgba.tobytes(), hints=layer.tobytes())
    expected = tinct.load_model(model_path, device="cpu").colorize(gray_rgba, working_size=SIDE, hints=layer)
    np.testing.assert_allclose(np.frombuffer(result, dtype="<f4").reshape(gray_rgba.shape), expected, atol=1e-5)


@pytest.mark.parametrize("sample_format", ["float32", "uint16"])
def test_selection_blends_in_the_worker(client: WorkerClient, gray_rgba: np.ndarray, sample_format: str) -> None:
    pixels = gray_rgba if sample_format == "float32" else np.rint(gray_rgba * 65535).astype("<u2")
    mask = np.zeros((SIDE, SIDE), dtype=np.uint8)
    mask[:, SIDE // 2 :] = 255
    mask[:, SIDE // 2 - 4 : SIDE // 2] = 51  # a fifth selected
    plain = np.frombuffer(client.colorize(request_for(pixels), pixels.tobytes()), dtype=pixels.dtype).reshape(pixels.shape)
    blended = np.frombuffer(
        client.colorize(request_for(pixels, selection="blend"), pixels.tobytes(), selection=mask.tobytes()), dtype=pixels.dtype
    ).reshape(pixels.shape)
    np.testing.assert_array_equal(blended[:, : SIDE // 2 - 4], pixels[:, : SIDE // 2 - 4])
    np.testing.assert_array_equal(blended[:, SIDE // 2 :], plain[:, SIDE // 2 :])
    half = blended[:, SIDE // 2 - 4 : SIDE // 2, :3].astype(np.float64)
    middle = 0.2 * plain[:, SIDE // 2 - 4 : SIDE // 2, :3].astype(np.float64) + 0.8 * pixels[:, SIDE // 2 - 4 : SIDE // 2, :3]
    assert np.abs(half - middle).max() <= (1e-6 if sample_format == "float32" else 1.0)
    alpha = np.frombuffer(
        client.colorize(request_for(pixels, selection="alpha"), pixels.tobytes(), selection=mask.tobytes()), dtype=pixels.dtype
    ).reshape(pixels.shape)
    np.testing.assert_array_equal(alpha[..., :3], plain[..., :3])
    assert (alpha[:, : SIDE // 2 - 4, 3] == 0).all()
    np.testing.assert_array_equal(alpha[:, SIDE // 2 :, 3], pixels[:, SIDE // 2 :, 3])


def test_old_plugin_with_new_worker_says_to_reinstall(model_path: str, gray_rgba: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in installed before protocol 2 (it checks the version in ``ready``) meets this worker."""
    monkeypatch.setattr(worker_protocol, "PROTOCOL_VERSION", 1)
    with WorkerClient(sys.executable, model=model_path, host="krita") as old:
        with pytest.raises(WorkerError, match=r"speaks worker protocol 1 but the tinct in .* speaks 2: run `tinct install-plugin krita` again") as caught:
            old.colorize(request_for(gray_rgba), gray_rgba.tobytes())
    assert caught.value.kind == "setup"


def test_crashed_worker_reports_its_last_words(tmp_path: Path, gray_rgba: np.ndarray) -> None:
    with WorkerClient(str(make_crashing_python(tmp_path))) as crashing:
        with pytest.raises(WorkerError, match=f"crashed.*{CRASH_MESSAGE}") as caught:
            crashing.colorize(request_for(gray_rgba), gray_rgba.tobytes())
        assert caught.value.kind == "crashed"
        assert crashing.pid is None


class StopRequested(Exception):
    pass


def stop_by_returning_false(fraction: float) -> bool:
    return False


def stop_by_raising(fraction: float) -> None:
    raise StopRequested


@pytest.mark.parametrize(("callback", "expected"), [(stop_by_returning_false, WorkerCancelled), (stop_by_raising, StopRequested)])
def test_cancel_from_progress_terminates_the_worker(
    model_path: str, gray_rgba: np.ndarray, callback: Callable[[float], bool | None], expected: type[Exception]
) -> None:
    with WorkerClient(sys.executable, model=model_path) as cancelling:
        pids: list[int | None] = []

        def progress(fraction: float) -> bool | None:
            pids.append(cancelling.pid)
            return callback(fraction)

        with pytest.raises(expected):
            cancelling.colorize(request_for(gray_rgba), gray_rgba.tobytes(), progress)
        assert cancelling.pid is None
        with pytest.raises(ProcessLookupError):
            os.kill(pids[0], 0)
        result = cancelling.colorize(request_for(gray_rgba), gray_rgba.tobytes())
        assert len(result) == gray_rgba.nbytes and cancelling.pid != pids[0]


# --- the worker process's lifetime --------------------------------------------------------


@pytest.fixture
def raw_worker() -> Iterator[subprocess.Popen[bytes]]:
    """A worker process spoken to directly, after its ``ready``."""
    process = subprocess.Popen([sys.executable, "-m", "tinct.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    ready = read_message(process.stdout)
    assert ready is not None and ready.header == {"type": "ready", "protocol": PROTOCOL_VERSION, "tinct": tinct.__version__}
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_worker_exits_when_stdin_closes(raw_worker: subprocess.Popen[bytes]) -> None:
    raw_worker.stdin.close()
    assert raw_worker.wait(WAIT_SECONDS) == 0


def test_worker_exits_when_stdin_closes_mid_request(raw_worker: subprocess.Popen[bytes], model_path: str) -> None:
    big = np.zeros((1024, 1024, 3), dtype=np.float32)
    request = ColorizeRequest(1024, 1024, 3, working_size=2048, model=model_path)
    write_message(raw_worker.stdin, request.header(), big.tobytes())
    first = read_message(raw_worker.stdout)
    assert first is not None and first.type == "progress"
    raw_worker.stdin.close()  # what the worker sees when GIMP kills the plug-in
    assert raw_worker.wait(WAIT_SECONDS) == EXIT_PARENT_GONE
    assert read_message(raw_worker.stdout) is None, "no result after the parent left"


def test_worker_answers_a_bad_request_and_goes_on(raw_worker: subprocess.Popen[bytes]) -> None:
    write_message(raw_worker.stdin, {"type": "sharpen"})
    reply = read_message(raw_worker.stdout)
    assert reply is not None and (reply.type, reply.header["kind"]) == ("error", "request")
    write_message(raw_worker.stdin, {**ColorizeRequest(2, 2, 3).header()}, b"\x00" * 10)
    reply = read_message(raw_worker.stdout)
    assert reply is not None and (reply.type, reply.header["kind"]) == ("error", "request")
    raw_worker.stdin.close()
    assert raw_worker.wait(WAIT_SECONDS) == 0
