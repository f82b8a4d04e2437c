"""The tinct command line, as a user runs it: outputs, refusals, one-line errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinct
from tinct.cli import main


def run_cli(*args: str, env_model: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if env_model is not None:
        env["TINCT_MODEL"] = str(env_model)
    return subprocess.run([sys.executable, "-m", "tinct.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_colorize_one_file(model_env, photo_file, tmp_path, capsys):
    out = tmp_path / "colour.png"
    assert main(["colorize", str(photo_file), "-o", str(out), "--working-size", "256"]) == 0
    result = tinct.load_image(out)
    assert result.shape == tinct.load_image(photo_file).shape + (3,)
    assert "colour.png" in capsys.readouterr().out


def test_existing_output_is_not_overwritten_without_force(model_env, photo_file, tmp_path, capsys):
    out = tmp_path / "colour.png"
    out.write_bytes(b"precious")
    assert main(["colorize", str(photo_file), "-o", str(out)]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["colorize", str(photo_file), "-o", str(out), "--force", "--working-size", "256"]) == 0
    assert tinct.load_image(out).ndim == 3


def test_batch_goes_on_past_a_bad_file(model_env, photo_file, tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    second = tinct.save_image(np.full((40, 60), 128, np.uint8), tmp_path / "second.tif")
    out_dir = tmp_path / "out"
    assert main(["colorize", str(photo_file), str(bad), str(second), "--out-dir", str(out_dir), "--working-size", "128"]) == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["grandma.png", "second.tif"]
    err = capsys.readouterr().err
    assert "notes.jpg is not an image" in err and "1 of 3 images failed" in err


def test_16_bit_in_16_bit_out(model_env, tmp_path):
    source = tinct.save_image((np.linspace(0, 65535, 64 * 96).reshape(64, 96)).astype(np.uint16), tmp_path / "scan.png")
    out = tmp_path / "scan-colour.png"
    assert main(["colorize", str(source), "-o", str(out), "--working-size", "128"]) == 0
    result = tinct.load_image(out)
    assert result.dtype == np.uint16 and result.shape == (64, 96, 3)


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (lambda d: d / "missing.png", [], "missing.png does not exist"),
        (lambda d: (d / "short.png").write_bytes(tinct.save_image(np.zeros((64, 64), np.uint8), d / "full.png").read_bytes()[:60]) and d / "short.png", [], "damaged or truncated"),
        (lambda d: Image.new("L", (2000, 2000)).save(d / "bomb.png") or d / "bomb.png", ["--max-pixels", "1000000"], "over the limit"),
    ],
    ids=["missing", "truncated", "decompression-bomb"],
)
def test_bad_inputs_give_one_line_errors(model_env, tmp_path, make_input, extra, message):
    source = make_input(tmp_path)
    completed = run_cli("colorize", str(source), "-o", str(tmp_path / "out.png"), *extra, env_model=model_env)
    assert completed.returncode == 1
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out.png").exists()


def test_unwritable_output_is_a_one_line_error(model_env, photo_file, tmp_path):
    completed = run_cli("colorize", str(photo_file), "-o", str(tmp_path / "no" / "folder" / "out.png"), "--working-size", "128", env_model=model_env)
    assert completed.returncode == 1
    assert "cannot write" in completed.stderr and "Traceback" not in completed.stderr


def test_corrupt_model_is_a_one_line_error(photo_file, tmp_path):
    corrupt = tmp_path / "broken.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    completed = run_cli("colorize", str(photo_file), "-o", str(tmp_path / "out.png"), "--model", str(corrupt))
    assert completed.returncode == 1
    assert "broken.safetensors is truncated or corrupt" in completed.stderr
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1


def test_usage_errors(model_env, photo_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["colorize", str(photo_file)])
    assert exit_info.value.code == 2
    assert main(["colorize", str(photo_file), str(photo_file), "-o", str(tmp_path / "x.png")]) == 1
    assert "use --out-dir" in capsys.readouterr().err


def test_info(model_env, capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"tinct {tinct.__version__}" in out and "architecture: tinct-unet" in out and "device: cpu" in out


def test_demo_writes_side_by_side(model_env, tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "-o", str(out), "--working-size", "256"]) == 0
    sheet = tinct.load_image(out)
    from skimage import data

    height, width = data.coffee().shape[:2]
    assert sheet.shape == (height, 3 * width, 3)
    gray_panel, colour_panel = sheet[:, :width].astype(int), sheet[:, width : 2 * width].astype(int)
    assert np.abs(gray_panel[..., 0] - gray_panel[..., 2]).max() == 0
    assert np.abs(colour_panel[..., 0] - colour_panel[..., 2]).mean() > 2
    assert main(["demo", "-o", str(out)]) == 1


def test_entry_point_version():
    completed = subprocess.run([str(Path(sys.executable).with_name("tinct")), "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and tinct.__version__ in completed.stdout
