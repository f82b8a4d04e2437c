"""Bad training configurations and data (issue class 9): one-line errors, no silent nonsense.

Everything here is refused before a single training step; nothing trains for long.
"""

from __future__ import annotations

import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import tinct
from tinct.cli import main
from tinct.training.trainer import CONFIG_FILE, MODEL_FILE, SETTING_RULES, STATE_FILE, TrainingConfig, train

PHOTO_COUNT = 3


@pytest.fixture(autouse=True)
def private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "hostile-cache"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    generator = np.random.default_rng(9)
    for index in range(PHOTO_COUNT):
        tinct.save_image((generator.random((40, 56, 3)) * 255).astype(np.uint8), folder / f"photo{index}.png")
    return folder


def tiny(photos: Path, **changes: object) -> dict:
    return {"data": str(photos), "batch_size": 2, "total_images": 4, "warmup_images": 2, "crop_size": 32, "final_crop_size": 32, "network_config": {"widths": [8, 8, 16], "context_width": 8}, **changes}


def run_train(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    status = main(["train", *args, "--device", "cpu"])
    captured = capsys.readouterr()
    return status, captured.err.splitlines()


def assert_one_error_line(status: int, err: list[str], *words: str) -> None:
    assert status != 0
    assert len(err) == 1 and err[0].startswith("tinct: error: "), err
    for word in words:
        assert word in err[0], err[0]


# --- the configuration file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "config.json does not exist"),
        ("{not json", "cannot be read as JSON"),
        ("[" * 100_000 + "]" * 100_000, "cannot be read as JSON"),
        (b"\xff\xfe\x00garbage", "cannot be read as JSON"),
        ("[1, 2, 3]", "must hold a JSON object of names and values, not list"),
        ('"photos/"', "must hold a JSON object of names and values, not str"),
        ("{}", "needs --data DIR"),
    ],
)
def test_bad_config_files_are_one_line_errors(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, words: str) -> None:
    config = tmp_path / "config.json"
    if isinstance(content, bytes):
        config.write_bytes(content)
    elif content is not None:
        config.write_text(content)
    status, err = run_train(capsys, "--run-dir", str(tmp_path / "run"), "--config", str(config))
    assert_one_error_line(status, err, words)
    assert not (tmp_path / "run").exists()


BAD_SETTINGS = [
    ({"batch_size": -4}, "batch_size must be from 1 to 4096, got -4"),
    ({"batch_size": 0}, "batch_size must be from 1"),
    ({"batch_size": "32"}, "batch_size must be a whole number, got '32'"),
    ({"batch_size": 2.5}, "batch_size must be a whole number, got 2.5"),
    ({"batch_size": True}, "batch_size must be a whole number, got True"),
    ({"learning_rate": -1}, "learning_rate must be from"),
    ({"learning_rate": float("nan")}, "learning_rate must be a number, got nan"),
    ({"learning_rate": "fast"}, "learning_rate must be a number"),
    ({"total_images": 0}, "total_images must be from 1"),
    ({"warmup_images": -1}, "warmup_images must be from 0"),
    ({"crop_size": 4}, "crop_size must be from 16 to 1024"),
    ({"crop_size": 100}, "crop_size must be a multiple of 16 for tinct-unet, got 100"),
    ({"final_crop_size": 99999}, "final_crop_size must be from 16 to 1024"),
    ({"final_fraction": 1.5}, "final_fraction must be from 0 to 1"),
    ({"min_crop_scale": 0}, "min_crop_scale must be from 0.01 to 1"),
    ({"hints": "yes"}, "hints must be true or false"),
    ({"hints": 1}, "hints must be true or false, got 1"),
    ({"rebalance_uniform_mix": 2}, "rebalance_uniform_mix must be from 0 to 1"),
    ({"precision": "fp8"}, "precision must be one of auto, bf16, fp32"),
    ({"seed": -1}, "seed must be from 0"),
    ({"checkpoint_minutes": -1}, "checkpoint_minutes must be from 0 to"),
    ({"validation_minutes": float("inf")}, "validation_minutes must be a number, got inf"),
    ({"validation_images": 0}, "validation_images must be from 1"),
    ({"data": 42}, "data must be text, got 42"),
    ({"validation_data": ["a", "b"]}, "validation_data must be text or null"),
    ({"network_config": [8, 8, 16]}, "network_config must be an object"),
    ({"network_config": {"widths": [8, 8, -16]}}, r"widths[2] must be from 1 to 1024"),
    ({"architecture": "mystery-net"}, "unknown architecture 'mystery-net'"),
    ({"epochs": 10}, "unknown training settings: epochs"),
]


@pytest.mark.parametrize(("change", "words"), BAD_SETTINGS)
def test_bad_settings_are_one_line_errors_before_anything_runs(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict, words: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tiny(photos, **change)))
    status, err = run_train(capsys, "--run-dir", str(tmp_path / "run"), "--config", str(config))
    assert_one_error_line(status, err, words)
    assert not (tmp_path / "run").exists(), "nothing is written for a refused configuration"


def test_every_setting_has_a_rule() -> None:
    """A new TrainingConfig field without a line in SETTING_RULES would go unchecked."""
    assert set(SETTING_RULES) == set(TrainingConfig.__dataclass_fields__)


def test_settings_are_checked_when_the_config_is_made_in_python(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(tinct.TrainingError, match="batch_size must be from 1"):
        train(TrainingConfig(**tiny(photos, batch_size=-4)), tmp_path / "run", device="cpu", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_negative_batch_flag_is_a_usage_error(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--run-dir", str(tmp_path / "run"), "--data", str(photos), "--batch-size", "-4"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("tinct: error: argument --batch-size")


# --- the data -------------------------------------------------------------------------------------------


def test_batch_larger_than_the_photo_folder(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tiny(photos, batch_size=8)))
    status, err = run_train(capsys, "--run-dir", str(tmp_path / "run"), "--config", str(config))
    assert_one_error_line(status, err, f"batch size 8 is larger than the {PHOTO_COUNT} photos in {photos}")


def png_bomb(path: Path, side: int) -> Path:
    """A tiny PNG file whose header announces ``side``×``side`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_in_the_data_folder(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for source in photos.iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    png_bomb(folder / "bomb.png", 100_000)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tiny(folder)))
    status, err = run_train(capsys, "--run-dir", str(tmp_path / "run"), "--config", str(config))
    errors = [line for line in err if line.startswith("tinct: error:")]
    assert status == 1 and len(errors) == 1 and "bomb.png" in errors[0] and "decompression bomb" in errors[0]
    assert "Traceback" not in "\n".join(err)


def test_a_run_that_takes_no_step_writes_no_model(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(tinct.TrainingError, match="stopped before its first step; no model was written"):
        train(TrainingConfig.from_dict(tiny(photos)), tmp_path / "run", device="cpu", max_steps=0, show_progress=False)
    assert not (tmp_path / "run" / MODEL_FILE).exists()


# --- resuming from a state file that is not what tinct wrote --------------------------------------------


class Exploit:
    """Unpickling this creates ``marker``: proof that a pickle's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def resumable_run(photos: Path, tmp_path: Path, state: bytes) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / CONFIG_FILE).write_text(json.dumps(TrainingConfig.from_dict(tiny(photos)).__dict__))
    (run / STATE_FILE).write_bytes(state)
    return run


def state_bytes(value: object, tmp_path: Path) -> bytes:
    path = tmp_path / "made.pt"
    torch.save(value, path)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("pickle with code", "is not a training state tinct wrote"),
        ("torch.save of code", "is not a training state tinct wrote"),
        ("random bytes", "is not a training state tinct wrote"),
        ("a list of tensors", "is not a training state tinct wrote (it lacks"),
        ("a dict of the wrong things", "it lacks counters, network"),
        ("another network's weights", "does not fit this run's configuration"),
    ],
)
def test_resume_refuses_foreign_state_files(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, words: str) -> None:
    marker = tmp_path / "code-ran"
    state = {
        "pickle with code": lambda: pickle.dumps(Exploit(marker)),
        "torch.save of code": lambda: state_bytes({"network": Exploit(marker)}, tmp_path),
        "random bytes": lambda: np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "a list of tensors": lambda: state_bytes([torch.zeros(3)], tmp_path),
        "a dict of the wrong things": lambda: state_bytes({"optimizer": {}, "scheduler": {}, "torch_rng": torch.zeros(3)}, tmp_path),
        "another network's weights": lambda: state_bytes(
            {"network": {"weight": torch.zeros(2)}, "optimizer": {}, "scheduler": {}, "counters": {"step": 1}, "torch_rng": torch.random.get_rng_state()}, tmp_path
        ),
    }[kind]()
    run = resumable_run(photos, tmp_path, state)
    status, err = run_train(capsys, "--run-dir", str(run), "--resume")
    assert_one_error_line(status, err, str(run / STATE_FILE), words)
    assert not marker.exists(), "no code from the state file ran"
    assert not (run / MODEL_FILE).exists()


def test_resume_with_a_damaged_run_config(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = resumable_run(photos, tmp_path, b"")
    (run / CONFIG_FILE).write_text('{"data": ')
    status, err = run_train(capsys, "--run-dir", str(run), "--resume")
    assert_one_error_line(status, err, str(run / CONFIG_FILE), "cannot be read as JSON")
