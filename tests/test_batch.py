"""Colorizing a collection: a nested tree of real photos (made gray) with a few bad files.

Every batch output is checked pixel for pixel against a single-file ``tinct colorize`` of
the same input (the pre-existing code path) made at the torch thread count of the batch's
workers (see `executor_threads`), after plain runs, a SIGKILLed and resumed run, two worker
processes, and a Ray run that loses an actor mid-way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.transform import resize

import tinct
from conftest import gray_of
from executor_threads import in_process_threads, per_thread_count, ray_threads, worker_threads
from tinct.cli import main
from tinct.atomic import TEMPORARY_PREFIX
from tinct.batch_workers import IN_FLIGHT, Dispatch
from tinct.collection import Task, plan_collection
from tinct.errors import TinctError
from tinct.journal import JOURNAL_NAME, Journal, JournalEntry

WORKING_SIZE = "64"
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "coins", "moon", "rocket", "clock")
CROPS = 5
FOLDERS = ("1950s/family", "1950s/family/holidays", "1960s", "postcards/paris", "postcards")
BAD_TEXT = "postcards/README.txt"
BAD_IMAGE = "1960s/torn.jpg"


def _write_photo(gray: np.ndarray, path: Path, kind: int) -> Path:
    """Save as 8-bit PNG, 16-bit TIFF or JPEG (so all three kinds go through the batch)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == 0:
        return tinct.save_image(gray, path.with_suffix(".png"))
    if kind == 1:
        return tinct.save_image(gray.astype(np.uint16) * 257, path.with_suffix(".tif"))
    return tinct.save_image(gray, path.with_suffix(".jpg"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """40 small gray photos in nested folders, a text file and a truncated JPEG."""
    root = tmp_path_factory.mktemp("collection") / "scans"
    rng = np.random.default_rng(0)
    number = 0
    for name in PHOTOS:
        photo = getattr(data, name)()
        photo = np.repeat(photo[..., None], 3, axis=2) if photo.ndim == 2 else photo[..., :3]
        height, width = photo.shape[:2]
        for crop in range(CROPS):
            top, left = rng.integers(0, height // 3), rng.integers(0, width // 3)
            piece = photo[top : top + 2 * height // 3, left : left + 2 * width // 3]
            size = (int(rng.integers(40, 72)), int(rng.integers(48, 96)))
            small = np.rint(resize(piece, size, anti_aliasing=True) * 255).astype(np.uint8)
            _write_photo(gray_of(small), root / FOLDERS[number % len(FOLDERS)] / f"{name}-{crop}", number % 3)
            number += 1
    (root / BAD_TEXT).write_text("Postcards from Paris, 1962. Scanned at 600 dpi.\n")
    whole = next(root.rglob("*.jpg")).read_bytes()
    (root / BAD_IMAGE).write_bytes(whole[: len(whole) // 2])
    return root


def good_images(tree: Path) -> list[Path]:
    return sorted(path for path in tree.rglob("*") if path.is_file() and path.suffix != ".txt" and path.relative_to(tree) != Path(BAD_IMAGE))


@pytest.fixture(scope="module")
def reference(tree, tmp_path_factory) -> Callable[[int], dict[Path, np.ndarray]]:
    """Each good image colorized by the single-file command at a torch thread count, by path relative to the tree."""
    images = good_images(tree)
    assert len(images) == len(PHOTOS) * CROPS and len({path.name for path in images}) == len(images)

    def make(threads: int) -> dict[Path, np.ndarray]:
        out = tmp_path_factory.mktemp(f"reference-{threads}-threads")
        assert main(["colorize", *map(str, images), "--out-dir", str(out), "--working-size", WORKING_SIZE, "--device", "cpu"]) == 0
        return {path.relative_to(tree): tinct.load_image(out / path.name) for path in images}

    return per_thread_count(make)


def journal_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]


def files_under(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*") if path.is_file()}


def assert_outputs_match(out: Path, tree: Path, reference: dict[Path, np.ndarray]) -> None:
    """The output tree mirrors the good images (nothing else, no temporaries) and matches the reference."""
    assert files_under(out) == set(reference) | {Path(JOURNAL_NAME)}
    for relative, expected in reference.items():
        result = tinct.load_image(out / relative)
        assert result.dtype == expected.dtype and np.array_equal(result, expected), relative


def assert_journal_complete(out: Path, tree: Path) -> None:
    """Every file has a line; every good image exactly one ``done`` (nothing was done twice)."""
    lines = journal_lines(out)
    done = [Path(line["input"]) for line in lines if line["status"] == "done"]
    assert sorted(done) == good_images(tree)
    by_input = {Path(line["input"]): line for line in lines}
    assert by_input[tree / BAD_TEXT]["status"] == "skipped"
    assert by_input[tree / BAD_IMAGE]["status"] == "failed" and "truncated" in by_input[tree / BAD_IMAGE]["reason"]
    assert set(by_input) == {path for path in tree.rglob("*") if path.is_file()}


def batch_command(tree: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tinct.cli", "colorize", str(tree), "--out-dir", str(out), "--recursive", "--working-size", WORKING_SIZE, "--device", "cpu", *extra]


def wait_for_done_lines(out: Path, process: subprocess.Popen, count: int) -> None:
    """Wait until the batch has journaled ``count`` finished images (it must still be running)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        journal = out / JOURNAL_NAME
        if journal.exists() and journal.read_text().count('"status": "done"') >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError("the batch made no progress")


def session_processes(session: int) -> list[int]:
    """Process ids of a session (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_tree_is_mirrored_bad_files_reported_and_journal_complete(tree, reference, tmp_path, capsys):
    out = tmp_path / "colour"
    assert main(["colorize", str(tree), "--out-dir", str(out), "--recursive", "--working-size", WORKING_SIZE, "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert f"{tree / BAD_IMAGE} is damaged or truncated" in captured.err
    assert "40 done, 1 failed, 1 skipped (not images), 0 already done" in captured.out
    expected = reference(in_process_threads())
    assert_outputs_match(out, tree, expected)
    assert_journal_complete(out, tree)
    assert any(path.suffix == ".tif" for path in expected) and all(expected[path].dtype == np.uint16 for path in expected if path.suffix == ".tif")

    # Again: nothing to do, nothing new in the journal but the retried bad image's line.
    before = journal_lines(out)
    assert main(["colorize", str(tree), "--out-dir", str(out), "--recursive", "--working-size", WORKING_SIZE, "--device", "cpu"]) == 1
    assert "0 done, 1 failed, 1 skipped (not images), 40 already done" in capsys.readouterr().out
    after = journal_lines(out)
    assert after[: len(before)] == before
    assert [(Path(line["input"]), line["status"]) for line in after[len(before) :]] == [(tree / BAD_IMAGE, "failed")]


def test_output_format_png(tree, reference, tmp_path):
    out = tmp_path / "png"
    assert main(["colorize", str(tree), "--out-dir", str(out), "--recursive", "--format", "png", "--working-size", WORKING_SIZE, "--device", "cpu"]) == 1
    expected = reference(in_process_threads())
    assert files_under(out) == {path.with_suffix(".png") for path in expected} | {Path(JOURNAL_NAME)}
    sixteen_bit = next(path for path in expected if path.suffix == ".tif")
    assert np.array_equal(tinct.load_image(out / sixteen_bit.with_suffix(".png")), expected[sixteen_bit])


def run_batch_killing_one_worker(tree: Path, out: Path, reference: dict[Path, np.ndarray], options: list[str], is_worker) -> None:
    """Run a batch with ``options``; SIGKILL the first of its two worker processes (``is_worker``
    tells them by command line) once 4 files are done; the batch must still complete every file."""
    process = subprocess.Popen(batch_command(tree, out, *options), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
    try:
        wait_for_done_lines(out, process, 4)
        workers = [pid for pid in session_processes(process.pid) if is_worker(command_line(pid))]
        assert len(workers) == 2, [command_line(pid) for pid in session_processes(process.pid)]
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=900)
    finally:
        for pid in session_processes(process.pid):
            os.kill(pid, signal.SIGKILL)
    assert process.returncode == 1, stderr
    assert "40 done, 1 failed, 1 skipped" in stdout
    assert_outputs_match(out, tree, reference)
    assert_journal_complete(out, tree)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes through Linux's /proc")
def test_two_worker_processes_give_the_same_outputs_and_survive_losing_one(tree, reference, tmp_path):
    """``--workers 2``; one worker process is SIGKILLed mid-run, a fresh one takes its files."""
    run_batch_killing_one_worker(tree, tmp_path / "colour", reference(worker_threads(2)), ["--workers", "2"], lambda command: "multiprocessing.spawn" in command)


def test_a_file_whose_worker_keeps_dying_fails_after_its_tries(tree, tmp_path):
    """`Dispatch`: a dead worker's files go to others, minus its half-written temporaries; the third death of a file's worker fails it."""
    tasks = [Task(path, tmp_path / f"{number}.png") for number, path in enumerate(good_images(tree)[:4])]
    dispatch = Dispatch(tasks, max_tries=3)
    held = [dispatch.next_for("a") for _ in range(IN_FLIGHT)]
    assert held == tasks[:IN_FLIGHT] and dispatch.next_for("a") is None
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # a process id that is gone, like a killed worker's
    half_written = tmp_path / f"{TEMPORARY_PREFIX}{finished.pid}-k3x9q2z-0.png"
    someone_elses = tmp_path / f"{TEMPORARY_PREFIX}{finished.pid}-u7w1m0ab-3.png"
    half_written.write_bytes(b"\x89PNG half")
    someone_elses.write_bytes(b"\x89PNG half")
    assert dispatch.worker_died("a", "killed") == []
    assert not half_written.exists() and someone_elses.exists()
    assert dispatch.next_for("b") == tasks[0]
    assert dispatch.worker_died("b", "killed") == []
    assert dispatch.next_for("c") == tasks[0]
    failures = dispatch.worker_died("c", "killed")
    assert [(failure.task, failure.status) for failure in failures] == [(tasks[0], "failed")] and "died 3 times" in failures[0].reason
    remaining = [dispatch.next_for("d") for _ in range(IN_FLIGHT)]
    assert remaining == tasks[1:] and all(dispatch.finished("d", task) for task in remaining)
    assert not dispatch.busy and not dispatch.finished("d", tasks[1])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the Ray actor processes through Linux's /proc")
def test_ray_local_two_actors_survive_losing_one(tree, reference, tmp_path):
    """``--ray local`` with two actors; one is SIGKILLed mid-run and the other finishes its files."""
    pytest.importorskip("ray")
    run_batch_killing_one_worker(tree, tmp_path / "colour", reference(ray_threads(2)), ["--ray", "local", "--workers", "2"], lambda command: command.startswith("ray::ColorizeActor"))


def test_ray_missing_says_how_to_install_it(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert main(["colorize", str(tree), "--out-dir", str(tmp_path / "out"), "--recursive", "--ray", "local"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("tinct: error:") and "pip install 'tinct[cluster]'" in error


def test_journal_survives_a_torn_last_line_and_refuses_a_second_writer(tmp_path):
    entry = JournalEntry("/in/a.png", "/out/a.png", "done", "", 1.5, "model.safetensors")
    with Journal(tmp_path) as journal:
        journal.append(entry)
        if sys.platform != "win32":
            with pytest.raises(TinctError, match="another tinct batch"):
                Journal(tmp_path)
    with (tmp_path / JOURNAL_NAME).open("ab") as handle:
        handle.write(b'{"input": "/in/b.png", "outp')  # killed mid-line
    with Journal(tmp_path) as journal:
        assert journal.latest == {("/in/a.png", "/out/a.png"): entry}
        journal.append(JournalEntry("/in/b.png", "", "skipped", "not an image"))
    assert [json.loads(line)["input"] for line in (tmp_path / JOURNAL_NAME).read_text().splitlines()] == ["/in/a.png", "/in/b.png"]


def test_plan_mirrors_paths_and_rejects_clashing_outputs(tmp_path):
    source = tmp_path / "in"
    (source / "deep" / "er").mkdir(parents=True)
    tinct.save_image(np.zeros((8, 8), np.uint8), source / "deep" / "er" / "a.png")
    tinct.save_image(np.zeros((8, 8), np.uint8), source / "deep" / "er" / "a.tif")
    (source / "deep" / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    plan = plan_collection([source], out, recursive=True, output_format="same")
    assert sorted(task.output for task in plan.pending) == [out / "deep" / "er" / "a.png", out / "deep" / "er" / "a.tif"]
    assert plan.not_images == [source / "deep" / "notes.txt"]
    assert plan_collection([source], out).pending == []  # without --recursive only the folder's own files
    clashing = plan_collection([source], out, recursive=True, output_format="png")
    assert [task.output for task in clashing.pending] == [out / "deep" / "er" / "a.png"]
    assert len(clashing.rejected) == 1 and "use --format same" in clashing.rejected[0][1]
    in_place = plan_collection([source], source, recursive=True)
    assert in_place.pending == [] and len(in_place.rejected) == 2
