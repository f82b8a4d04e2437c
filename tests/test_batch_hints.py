"""Colour hints on folder batches: ``tinct colorize FOLDER --out-dir OUT --hints HINT-FOLDER``.

A small tree of gray photos beside a hint folder that mirrors it (hint images of other
types than their photos, photos without one, and three bad cases).  On every executor,
each output must equal the single-file ``tinct colorize PHOTO --hints HINT`` output made
with the executor's torch thread count (the network's output moves by ~1e-5 between
thread counts), and each bad case fails alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tinct
from executor_threads import per_thread_count, ray_threads, worker_threads
from tinct.cli import main
from tinct.collection import plan_collection
from tinct.errors import ImageError
from tinct.hint_files import HintFolder
from tinct.journal import JOURNAL_NAME

WORKING_SIZE = "64"
# Photo (relative to the tree) → its hint image (relative to the hint folder), or None.
GOOD = {
    Path("family/one.png"): Path("family/one.png"),
    Path("family/holidays/two.tif"): Path("family/holidays/two.png"),
    Path("three.jpg"): Path("three.tif"),
    Path("family/four.png"): None,
}
AMBIGUOUS = Path("postcards/twice.png")
WRONG_SIZE = Path("postcards/small.png")
OPAQUE = Path("postcards/opaque.png")


def hint_layer(shape: tuple[int, int], colour: tuple[int, int, int], dtype: type = np.uint8) -> np.ndarray:
    """A transparent layer of ``shape`` with two opaque dots of ``colour`` (0..255)."""
    scale = np.iinfo(dtype).max // 255
    layer = np.zeros(shape + (4,), dtype)
    height, width = shape
    for row, column in ((height // 4, width // 3), (2 * height // 3, 3 * width // 4)):
        layer[row : row + 4, column : column + 4] = np.array((*colour, 255), dtype) * scale
    return layer


def save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tinct.save_image(image, path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, gray_photo) -> tuple[Path, Path]:
    """(the photo tree, the hint folder): small gray photos of three types, hint images of other types."""
    root = tmp_path_factory.mktemp("hinted")
    photos, hints = root / "scans", root / "hints"
    crops = [gray_photo[::4, ::4], gray_photo[40:, 60:][::3, ::3], gray_photo[::-4, ::5], gray_photo[20:180:3, ::4]]
    for (relative, hint), crop, colour in zip(GOOD.items(), crops, [(200, 40, 30), (40, 90, 200), (30, 160, 60), (0, 0, 0)]):
        save(crop.astype(np.uint16) * 257 if relative.suffix == ".tif" else np.ascontiguousarray(crop), photos / relative)
        if hint is not None:
            save(hint_layer(crop.shape, colour, np.uint16 if hint.suffix == ".tif" else np.uint8), hints / hint)
    small = np.ascontiguousarray(gray_photo[::5, ::5])
    for relative in (AMBIGUOUS, WRONG_SIZE, OPAQUE):
        save(small, photos / relative)
    save(hint_layer(small.shape, (200, 40, 30)), hints / AMBIGUOUS)
    save(hint_layer(small.shape, (40, 90, 200)), hints / AMBIGUOUS.with_suffix(".webp"))
    save(hint_layer((10, 10), (200, 40, 30)), hints / WRONG_SIZE)
    save(np.zeros(small.shape + (3,), np.uint8), hints / OPAQUE)
    return photos, hints


@pytest.fixture(scope="module")
def reference(folders, untrained_model_file, tmp_path_factory) -> Callable[[int], dict[Path, np.ndarray]]:
    """Single-file ``tinct colorize`` of each good photo (with ``--hints`` its hint image) at a torch thread count, by relative path."""
    photos, hints = folders

    def make(threads: int) -> dict[Path, np.ndarray]:
        out = tmp_path_factory.mktemp(f"reference-{threads}-threads")
        for number, (relative, hint) in enumerate(GOOD.items()):
            target = out / f"{number}{relative.suffix}"
            options = [] if hint is None else ["--hints", str(hints / hint)]
            command = ["colorize", str(photos / relative), "-o", str(target), "--model", str(untrained_model_file), "--device", "cpu"]
            assert main([*command, "--working-size", WORKING_SIZE, *options]) == 0
        return {relative: tinct.load_image(out / f"{number}{relative.suffix}") for number, relative in enumerate(GOOD)}

    return per_thread_count(make)


def batch_arguments(folders: tuple[Path, Path], out: Path, model: Path, *extra: str) -> list[str]:
    photos, hints = folders
    return ["colorize", str(photos), "--out-dir", str(out), "--recursive", "--hints", str(hints), "--model", str(model), "--device", "cpu", "--working-size", WORKING_SIZE, *extra]


def journal_by_photo(out: Path, photos: Path) -> dict[Path, dict]:
    lines = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    return {Path(line["input"]).relative_to(photos): line for line in lines}


EXECUTORS = [
    pytest.param(["--workers", "1"], lambda: worker_threads(1), id="in-process"),
    pytest.param(["--workers", "2"], lambda: worker_threads(2), id="two-worker-processes"),
    pytest.param(["--ray", "local", "--workers", "1"], lambda: ray_threads(1), id="ray-local"),
]


@pytest.mark.parametrize("executor, threads", EXECUTORS)
def test_folder_batch_follows_its_hint_images_like_single_files(folders, reference, untrained_model_file, tmp_path, capsys, executor, threads):
    if "--ray" in executor:
        pytest.importorskip("ray")
    photos, hints = folders
    out = tmp_path / "colour"
    assert main(batch_arguments(folders, out, untrained_model_file, *executor)) == 1
    captured = capsys.readouterr()
    assert "4 done (3 with hints), 3 failed, 0 skipped (not images), 0 already done" in captured.out

    expected = reference(threads())
    assert {path.relative_to(out) for path in out.rglob("*") if path.is_file()} == set(GOOD) | {Path(JOURNAL_NAME)}
    for relative, image in expected.items():
        result = tinct.load_image(out / relative)
        assert result.dtype == image.dtype and np.array_equal(result, image), relative

    journal = journal_by_photo(out, photos)
    assert set(journal) == set(GOOD) | {AMBIGUOUS, WRONG_SIZE, OPAQUE}
    for relative, hint in GOOD.items():
        assert (journal[relative]["status"], journal[relative]["hints"]) == ("done", None if hint is None else str(hints / hint))
    failures = {
        AMBIGUOUS: (None, f"has 2 hint images, {hints / AMBIGUOUS} and {hints / AMBIGUOUS.with_suffix('.webp')}; keep one of them"),
        WRONG_SIZE: (str(hints / WRONG_SIZE), f"is 10×10 pixels but {photos / WRONG_SIZE} is 60×40"),
        OPAQUE: (str(hints / OPAQUE), "has no alpha channel"),
    }
    errors = captured.err.strip().splitlines()
    for relative, (hint, words) in failures.items():
        line = journal[relative]
        assert (line["status"], line["hints"]) == ("failed", hint) and words in line["reason"], line
        assert sum(error.startswith("tinct: error: ") and str(photos / relative) in error and words in error for error in errors) == 1, captured.err


def test_a_second_run_does_only_the_failed_photos(folders, untrained_model_file, tmp_path, capsys):
    """Resuming is as without hints: a done photo is not done again, even when its hint image is new."""
    photos, hints = folders
    out = tmp_path / "colour"
    arguments = batch_arguments(folders, out, untrained_model_file, "--workers", "1")
    assert main(arguments) == 1
    before = (out / JOURNAL_NAME).read_text().splitlines()
    added = hints / "family" / "four.png"
    save(hint_layer(tinct.load_image(photos / "family" / "four.png").shape, (200, 40, 30)), added)
    try:
        assert main(arguments) == 1
    finally:
        added.unlink()
    assert "0 done, 3 failed, 0 skipped (not images), 4 already done" in capsys.readouterr().out
    after = (out / JOURNAL_NAME).read_text().splitlines()
    assert after[: len(before)] == before
    # The two bad hint images failed again in a worker; the ambiguous photo's unchanged planning failure is not journaled twice.
    assert sorted(Path(json.loads(line)["input"]).relative_to(photos) for line in after[len(before) :]) == sorted([WRONG_SIZE, OPAQUE])


@pytest.mark.parametrize(
    "options, words",
    [
        (lambda folders: ["--hint", "10,10,#2a5db0"], "--hint points belong to one photo; for several or a folder, use --hints FOLDER"),
        (lambda folders: ["--hints", str(folders[1] / GOOD[Path("three.jpg")])], "--hints names a folder of hint images named like the photos; "),
    ],
    ids=["hint-points", "one-hint-image"],
)
def test_a_folder_batch_takes_only_a_hint_folder(folders, untrained_model_file, tmp_path, capsys, options, words):
    photos, _ = folders
    out = tmp_path / "colour"
    command = ["colorize", str(photos), "--out-dir", str(out), "--recursive", "--model", str(untrained_model_file), "--device", "cpu", *options(folders)]
    assert main(command) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("tinct: error: ") and words in error, error
    assert not out.exists()


def test_hint_folder_matches_any_image_suffix_by_relative_path(tmp_path):
    hints = tmp_path / "hints"
    (hints / "a" / "b").mkdir(parents=True)
    for name in ("a/b/c.PNG", "a/b/.c.png", "a/b/d.txt", "a/b/e.tiff", "a/b/e.bmp"):
        (hints / name).write_bytes(b"")
    folder = HintFolder(hints)
    photo = tmp_path / "photos" / "a" / "b" / "c.jpg"
    assert folder.find(photo, Path("a/b/c.jpg")) == hints / "a" / "b" / "c.PNG"
    assert folder.find(photo) is None  # by its name alone: not in the hint folder's top
    assert folder.find(tmp_path / "d.jpg", Path("a/b/d.jpg")) is None
    assert folder.find(tmp_path / "f.jpg", Path("nowhere/f.jpg")) is None
    with pytest.raises(ImageError, match=r"e\.jpg has 2 hint images, .*e\.bmp and .*e\.tiff; keep one of them"):
        folder.find(tmp_path / "e.jpg", Path("a/b/e.jpg"))


def test_a_hint_folder_inside_the_tree_is_not_colorized(tmp_path):
    photos = tmp_path / "scans"
    save(np.zeros((8, 8), np.uint8), photos / "a.png")
    save(np.zeros((8, 8, 4), np.uint8), photos / "hints" / "a.png")
    plan = plan_collection([photos], tmp_path / "out", recursive=True, hints=HintFolder(photos / "hints"))
    assert [(task.input, task.hints) for task in plan.pending] == [(photos / "a.png", photos / "hints" / "a.png")]
