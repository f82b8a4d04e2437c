"""The command line against hostile use (issue classes 7 and 8, and the "Also" items).

One ``tinct: error:`` line per failure and a non-zero exit, never a traceback; no
temporary file left behind after SIGINT or SIGTERM, and none after SIGKILL once tinct
runs again in that folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tinct
from tinct.atomic import TEMPORARY_PREFIX
from tinct.cli import EXIT_INTERRUPTED, EXIT_TERMINATED, main

SIGNAL_WAIT_SECONDS = 120


@pytest.fixture()
def model_env(monkeypatch: pytest.MonkeyPatch, untrained_model_file: Path) -> Path:
    monkeypatch.setenv("TINCT_MODEL", str(untrained_model_file))
    return untrained_model_file


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    return tinct.save_image(np.tile(np.linspace(30, 220, 64).astype(np.uint8), (48, 1)), tmp_path / "photo.png")


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    status = main(["colorize", *args, "--working-size", "64"])
    return status, capsys.readouterr().err.splitlines()


def assert_one_error_line(status: int, err: list[str], *words: str) -> None:
    assert status != 0
    assert len(err) == 1 and err[0].startswith("tinct: error: "), err
    for word in words:
        assert word in err[0], err[0]


# --- class 7: output folders and formats -----------------------------------------------------


def test_out_dir_where_a_file_stands(model_env: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    status, err = run_main(capsys, str(photo), "--out-dir", str(blocker))
    assert_one_error_line(status, err, "results", "a file of that name is in the way")


def test_out_dir_below_a_file(model_env: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("x")
    status, err = run_main(capsys, str(photo), "--out-dir", str(tmp_path / "notes.txt" / "colour"))
    assert_one_error_line(status, err, "cannot create the output folder", "notes.txt/colour")


@pytest.mark.parametrize("virtual", ["/proc/tinct-colour", "/sys/tinct-colour", "/proc/self/tinct/colour"])
def test_out_dir_on_a_virtual_file_system(model_env: Path, photo: Path, capsys: pytest.CaptureFixture[str], virtual: str) -> None:
    root = Path("/", virtual.split("/")[1])
    if not root.is_dir():
        pytest.skip(f"no {root} here")
    status, err = run_main(capsys, str(photo), "--out-dir", virtual)
    assert_one_error_line(status, err, "cannot create the output folder", virtual)


def test_out_dir_read_only(model_env: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    status, err = run_main(capsys, str(photo), "--out-dir", str(locked / "colour"))
    assert_one_error_line(status, err, "cannot create the output folder", "Permission denied")


def test_rgba_to_jpeg_names_the_users_output(model_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgba = np.dstack([np.full((48, 64, 3), 120, np.uint8), np.full((48, 64), 200, np.uint8)])
    source = tinct.save_image(rgba, tmp_path / "layer.png")
    status, err = run_main(capsys, str(source), "-o", str(tmp_path / "layer-colour.jpg"))
    assert_one_error_line(status, err, str(tmp_path / "layer-colour.jpg"), "JPEG cannot hold transparency", "layer-colour.png")
    assert TEMPORARY_PREFIX not in err[0] and ".tmp" not in err[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["layer.png"]


def test_output_in_a_missing_folder(model_env: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_main(capsys, str(photo), "-o", str(tmp_path / "missing" / "out.png"))
    assert_one_error_line(status, err, "cannot write", "missing/out.png")


# --- "Also": one line per failure, no summary for one input, no progress before a start-up error ---


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--working-size", "3"], "working size must be a whole number of pixels from 16 to 16384, got 3"),
        (["--saturation", "nan"], "saturation must be a number from 0 to 4, got nan"),
        (["--saturation", "9"], "saturation must be a number from 0 to 4, got 9.0"),
        (["--tile", "5"], "tile must be a whole number of pixels of at least 128"),
        (["--model", "/nonexistent/model.safetensors"], "model.safetensors does not exist"),
    ],
)
def test_start_up_errors_are_one_line_without_progress(
    model_env: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, arguments: list[str], words: str
) -> None:
    monkeypatch.setenv("TINCT_PROGRESS", "1")
    second = tinct.save_image(np.full((48, 64), 90, np.uint8), tmp_path / "second.png")
    status = main(["colorize", str(photo), str(second), "--out-dir", str(tmp_path / "out"), *arguments])
    captured = capsys.readouterr()
    assert_one_error_line(status, captured.err.splitlines(), words)
    assert "%" not in captured.err and captured.out == ""


def test_single_input_failure_is_one_line_without_summary(model_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINCT_PROGRESS", "1")
    bad = tmp_path / "scan.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    status, err = run_main(capsys, str(bad), "-o", str(tmp_path / "out.png"))
    assert_one_error_line(status, err, "scan.png")


def test_multi_line_messages_become_one_line(model_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "two\nlines.png"
    odd.write_bytes(b"not an image")
    status, err = run_main(capsys, str(odd), "-o", str(tmp_path / "out.png"))
    assert_one_error_line(status, err, "two lines.png")


def test_pixel_limit_is_stated_in_pixels(model_env: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_main(capsys, str(photo), "-o", str(tmp_path / "out.png"), "--max-pixels", "1000")
    assert_one_error_line(status, err, "photo.png is 64×48 = 3,072 pixels, over the limit of 1,000 pixels", "--max-pixels")


def test_batch_reports_each_failure_once_and_a_summary(model_env: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("no")
    status = main(["colorize", str(bad), str(photo), str(tmp_path / "missing.png"), "--out-dir", str(tmp_path / "out"), "--working-size", "64"])
    err = capsys.readouterr().err.splitlines()
    assert status == 1
    assert [line.split(":")[1] for line in err] == [" error", " error", " 2 of 3 images failed"]
    assert (tmp_path / "out" / "photo.png").is_file()


# --- class 8: temporary files and signals ------------------------------------------------------

# Runs the real command line, but pauses inside the atomic write (after the temporary file
# is complete, before the rename) and says so, so a signal lands exactly there.
PAUSING_CLI = textwrap.dedent(
    """
    import signal, sys, time
    import tinct.io
    # Ctrl-C as a terminal delivers it: a test run started as a background job hands its
    # children SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    write = tinct.io._write_file
    def pausing(array, path, suffix):
        write(array, path, suffix)
        print("WRITING", path, flush=True)
        time.sleep(600)
    tinct.io._write_file = pausing
    from tinct.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def start_pausing_cli(tmp_path: Path, model: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "pausing_cli.py"
    script.write_text(PAUSING_CLI)
    env = {**os.environ, "TINCT_MODEL": str(model)}
    process = subprocess.Popen([sys.executable, str(script), "colorize", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    assert line.startswith("WRITING"), (line, process.stderr.read() if process.poll() is not None else "")
    temporary = Path(line.split(" ", 1)[1].strip())
    assert temporary.is_file() and temporary.name.startswith(f"{TEMPORARY_PREFIX}{process.pid}-")
    return process, temporary


@pytest.mark.parametrize(("number", "status", "words"), [(signal.SIGTERM, EXIT_TERMINATED, "tinct: terminated"), (signal.SIGINT, EXIT_INTERRUPTED, "tinct: interrupted")])
def test_signal_mid_write_leaves_no_temporary_file(untrained_model_file: Path, photo: Path, tmp_path: Path, number: int, status: int, words: str) -> None:
    out = tmp_path / "out"
    process, temporary = start_pausing_cli(tmp_path, untrained_model_file, str(photo), "--out-dir", str(out), "--working-size", "64")
    process.send_signal(number)
    assert process.wait(SIGNAL_WAIT_SECONDS) == status
    assert process.stderr.read().splitlines() == [words]
    assert not temporary.exists()
    assert list(out.iterdir()) == [], "neither the output nor a temporary file is left"


def test_temporary_file_left_by_sigkill_is_removed_by_the_next_run(untrained_model_file: Path, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    process, temporary = start_pausing_cli(tmp_path, untrained_model_file, str(photo), "--out-dir", str(out), "--working-size", "64")
    process.kill()
    process.wait(SIGNAL_WAIT_SECONDS)
    process.stdout.close()
    process.stderr.close()
    assert temporary.exists(), "SIGKILL cannot be cleaned up after by the process itself"
    live = out / f"{TEMPORARY_PREFIX}{os.getpid()}-abcd-other.png"  # a live process's write in progress
    live.write_bytes(b"busy")
    stranger = out / ".tmp-not-tinct.png"
    stranger.write_bytes(b"someone else's")
    other = tinct.save_image(np.full((48, 64), 100, np.uint8), tmp_path / "other.png")
    env = {**os.environ, "TINCT_MODEL": str(untrained_model_file)}
    done = subprocess.run([sys.executable, "-m", "tinct.cli", "colorize", str(other), "--out-dir", str(out), "--working-size", "64"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted([live.name, stranger.name, "other.png"])
