"""Training: the data cache, batches with hints, exact resume, stop on a signal, distributed, eval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

import tinct
from tinct.evaluation import evaluate
from tinct.training.batches import training_batch
from tinct.training.data_cache import CACHE_LONG_SIDE, CACHE_SHORT_SIDE, cached_shape, decode_lab, load_training_set
from tinct.training.trainer import STATE_FILE, TrainingConfig, train

SAMPLE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "colorwheel", "hubble_deep_field", "retina")


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """Colour photos that scikit-image ships, as JPEG files."""
    folder = tmp_path_factory.mktemp("photos")
    for name in SAMPLE_PHOTOS:
        tinct.save_image(getattr(data, name)()[..., :3], folder / f"{name}.jpg")
    return folder


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def tiny_config(folder: Path, **changes) -> TrainingConfig:
    settings = dict(data=str(folder), batch_size=4, total_images=64, warmup_images=8, crop_size=64, final_crop_size=96, final_fraction=0.5, network_config={"widths": [16, 16, 32], "context_width": 16})
    settings.update(changes)
    return TrainingConfig(**settings)


def test_cache_holds_lab_of_each_photo_at_its_aspect_and_is_built_once(photo_folder):
    first = load_training_set(photo_folder, show_progress=False)
    assert len(first) == len(SAMPLE_PHOTOS)
    cache_file = Path(first.pixels.filename)
    stamp = cache_file.stat().st_mtime_ns
    again = load_training_set(photo_folder, show_progress=False)
    assert cache_file.stat().st_mtime_ns == stamp and again.sources == first.sources
    index = first.sources.index("coffee.jpg")
    lab = decode_lab(np.asarray(first.image(index)))
    coffee = data.coffee()  # 400 × 600: short side to 224, long side 336, nothing cut
    assert lab.shape == (CACHE_SHORT_SIDE, 336, 3)
    from skimage.color import rgb2lab
    from skimage.transform import resize

    reference = rgb2lab(resize(tinct.load_image(photo_folder / "coffee.jpg"), lab.shape[:2], anti_aliasing=True))
    assert np.abs(lab[..., 0] - reference[..., 0]).mean() < 1.5
    assert np.abs(lab[..., 1:] - reference[..., 1:]).mean() < 1.5
    # A panorama keeps its height and loses only the ends of its long side.
    assert cached_shape(2000, 400) == (CACHE_SHORT_SIDE, CACHE_LONG_SIDE)
    assert first.bin_counts.sum() > 0


def test_batches_have_crops_targets_and_hints(photo_folder):
    dataset = load_training_set(photo_folder, show_progress=False)
    generator = np.random.default_rng(0)
    inputs, targets = training_batch(dataset, 8, 96, 4, generator)
    assert inputs.shape == (8, 4, 96, 96) and targets.shape == (8, 2, 24, 24)
    assert inputs[:, 0].min() >= -1.0 - 1e-5 and inputs[:, 0].max() <= 1.0 + 1e-5
    masks = torch.cat([training_batch(dataset, 8, 96, 4, np.random.default_rng(seed))[0][:, 3] for seed in range(8)])
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    hinted_fraction = (masks.flatten(1).amax(dim=1) > 0).float().mean().item()
    assert 0.2 < hinted_fraction < 0.8
    # Hint colours sit where the mask is, nowhere else.
    assert (inputs[:, 1:3].abs() * (inputs[:, 3:4] == 0)).max() == 0


def network_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / STATE_FILE, weights_only=True)["network"]


def test_resume_continues_exactly(photo_folder, tmp_path):
    config = tiny_config(photo_folder)
    straight = train(config, tmp_path / "straight", max_steps=6, show_progress=False)
    train(config, tmp_path / "interrupted", max_steps=3, show_progress=False)
    resumed = train(None, tmp_path / "interrupted", resume=True, max_steps=3, show_progress=False)
    assert resumed["step"] == straight["step"] == 6
    first, second = network_weights(tmp_path / "straight"), network_weights(tmp_path / "interrupted")
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=0)
    model = tinct.load_model(tmp_path / "interrupted" / "model.safetensors", device="cpu")
    assert model.training["step"] == 6 and model.training["images_seen"] == 24


def test_fine_tuning_starts_from_the_initial_model(photo_folder, tmp_path):
    train(tiny_config(photo_folder, seed=3), tmp_path / "first", max_steps=4, show_progress=False)
    initial = tmp_path / "first" / "model.safetensors"
    # A learning rate of zero keeps the weights: what the run saves is what it started from.
    tuned = tiny_config(photo_folder, initial_model=str(initial), learning_rate=0.0, weight_decay=0.0)
    train(tuned, tmp_path / "tuned", max_steps=1, show_progress=False)
    started_from = tinct.load_model(initial, device="cpu").network.state_dict()
    saved = network_weights(tmp_path / "tuned")
    weight = "classifier.weight"
    torch.testing.assert_close(saved[weight], started_from[weight].to(saved[weight].dtype), rtol=0, atol=0)
    # Without an initial model the same settings start from the seed's random weights.
    train(tiny_config(photo_folder, learning_rate=0.0, weight_decay=0.0), tmp_path / "plain", max_steps=1, show_progress=False)
    assert not torch.equal(network_weights(tmp_path / "plain")[weight], saved[weight])
    with pytest.raises(tinct.TrainingError, match="not 'seed-autoencoder'"):
        train(tiny_config(photo_folder, architecture="seed-autoencoder", network_config={}, initial_model=str(initial)), tmp_path / "wrong", max_steps=1, show_progress=False)


def test_weaker_rebalancing_flattens_the_class_weights(photo_folder, tmp_path):
    weights = {}
    for mix in (0.5, 0.9):
        train(tiny_config(photo_folder, rebalance_uniform_mix=mix), tmp_path / str(mix), max_steps=1, show_progress=False)
        weights[mix] = network_weights(tmp_path / str(mix))["bin_weights"]
    assert weights[0.9].max() / weights[0.9].min() < weights[0.5].max() / weights[0.5].min()


def test_starting_over_an_existing_run_is_refused(photo_folder, tmp_path):
    train(tiny_config(photo_folder), tmp_path / "run", max_steps=1, show_progress=False)
    with pytest.raises(tinct.TrainingError, match="pass --resume"):
        train(tiny_config(photo_folder), tmp_path / "run", max_steps=1, show_progress=False)
    with pytest.raises(tinct.TrainingError, match="cannot resume"):
        train(None, tmp_path / "elsewhere", resume=True)


def test_sigterm_saves_a_checkpoint(photo_folder, tmp_path):
    run = tmp_path / "run"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data": str(photo_folder), "batch_size": 4, "total_images": 100000, "crop_size": 64, "final_crop_size": 64, "network_config": {"widths": [16, 16, 32], "context_width": 16}}))
    process = subprocess.Popen(
        [sys.executable, "-m", "tinct.cli", "train", "--run-dir", str(run), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while not (run / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "checkpoint saved" in stdout
    step = torch.load(run / STATE_FILE, weights_only=True)["counters"]["step"]
    assert step > 0
    resumed = train(None, run, resume=True, max_steps=1, show_progress=False)
    assert resumed["step"] == step + 1


def test_distributed_training_with_two_processes(photo_folder, tmp_path):
    run = tmp_path / "ddp"
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tinct.cli", "train",
         "--run-dir", str(run), "--data", str(photo_folder), "--batch-size", "2", "--total-images", "64", "--crop-size", "64", "--final-crop-size", "64", "--max-steps", "3", "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    model = tinct.load_model(run / "model.safetensors", device="cpu")
    assert model.training["step"] == 3
    assert model.training["images_seen"] == 3 * 2 * 2


def test_eval_reports_metrics_baselines_hints_and_contact_sheet(photo_folder, tmp_path, untrained_model_file):
    baseline = tinct.create_model("seed-autoencoder", device="cpu").save(tmp_path / "seed.safetensors")
    report = evaluate(photo_folder, model=untrained_model_file, baseline=baseline, out_dir=tmp_path / "eval", device="cpu", limit=4, contact_sheet_count=3, hint_counts=(0, 10))
    assert report.photos == 4
    assert set(report.methods) == {"tinct", "gray", "seed-autoencoder"}
    gray = report.methods["gray"]
    assert gray.colourfulness_ratio < 0.05 and gray.ciede2000 > 1.0
    assert 0 < report.methods["tinct"].colourfulness_ratio
    assert set(report.hints) == {0, 10}
    saved = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert saved["methods"]["tinct"]["psnr"] == pytest.approx(report.methods["tinct"].psnr)
    # Per-photo results let a reader score any subset; they average to the table.
    assert [result["photo"] for result in saved["photo_results"]] == sorted(f"{name}.jpg" for name in SAMPLE_PHOTOS)[:4]
    assert np.mean([result["seed-autoencoder"]["ciede2000"] for result in saved["photo_results"]]) == pytest.approx(report.methods["seed-autoencoder"].ciede2000)
    assert np.mean([result["hints"]["10"]["psnr"] for result in saved["photo_results"]]) == pytest.approx(report.hints[10]["psnr"])
    sheet = tinct.load_image(tmp_path / "eval" / "contact-sheet.png")
    assert sheet.shape[0] == 3 * 192 and sheet.shape[2] == 3
    again = evaluate(photo_folder, model=untrained_model_file, baseline=baseline, device="cpu", limit=4, hint_counts=(0, 10))
    assert again.hints == report.hints
    # The first half is where models are calibrated, the last half is held out: each is reported.
    assert list(report.halves) == ["first 2", "last 2"]
    for label, part in (("first 2", saved["photo_results"][:2]), ("last 2", saved["photo_results"][2:])):
        assert set(report.halves[label]) == set(report.methods)
        for name in report.methods:
            assert report.halves[label][name].ciede2000 == pytest.approx(np.mean([result[name]["ciede2000"] for result in part]))
            assert report.halves[label][name].psnr == pytest.approx(np.mean([result[name]["psnr"] for result in part]))
    assert "first 2 photos" in report.table() and "last 2 photos" in report.table()


def test_eval_compares_other_models_on_the_same_photos_and_sheet(photo_folder, tmp_path, untrained_model_file):
    baseline = tinct.create_model("seed-autoencoder", device="cpu").save(tmp_path / "seed.safetensors")
    same_model = tmp_path / "same.safetensors"
    same_model.write_bytes(Path(untrained_model_file).read_bytes())
    alone = evaluate(photo_folder, model=untrained_model_file, baseline=baseline, out_dir=tmp_path / "alone", device="cpu", limit=2, contact_sheet_count=2, hint_counts=(0,))
    report = evaluate(
        photo_folder, model=untrained_model_file, baseline=baseline, out_dir=tmp_path / "compared", device="cpu", limit=2, contact_sheet_count=2,
        hint_counts=(0,), compare_models=[same_model, baseline],
    )
    assert list(report.methods) == ["tinct", "gray", "seed-autoencoder", "same", "seed"]
    # The same model file at its own calibration is the model itself; the baseline file is the baseline.
    assert report.methods["same"] == report.methods["tinct"]
    assert report.methods["seed"] == report.methods["seed-autoencoder"] != report.methods["tinct"]
    # Each compared model is a column of the contact sheet: gray, model, compared..., truth.
    alone_sheet = tinct.load_image(tmp_path / "alone" / "contact-sheet.png")
    sheet = tinct.load_image(tmp_path / "compared" / "contact-sheet.png")
    assert sheet.shape[0] == alone_sheet.shape[0] and sheet.shape[1] * 3 == alone_sheet.shape[1] * 5


def test_validation_log_and_training_curve(photo_folder, tmp_path):
    from tinct.evaluation import read_training_logs, training_curve

    config = tiny_config(photo_folder, validation_data=str(photo_folder), validation_minutes=0.0, validation_images=4)
    train(config, tmp_path / "run", max_steps=3, show_progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2, 3]
    assert all(0 <= record["colourfulness_ratio"] and record["psnr"] > 5 for record in records)
    chart = tinct.load_image(training_curve(tmp_path / "run" / "log.jsonl", tmp_path / "curve.png"))
    assert chart.shape == (360, 720, 3)
    assert ((chart == (200, 60, 30)).all(axis=-1)).sum() > 20
    # A fine-tuning's log continues the first run's: its wall times start where that one ended.
    log = tmp_path / "run" / "log.jsonl"
    chained = read_training_logs([log, log])
    assert [record["step"] for record in chained] == [1, 2, 3, 1, 2, 3]
    assert [record["wall_seconds"] for record in chained[3:]] == [record["wall_seconds"] + records[-1]["wall_seconds"] for record in records]
    assert tinct.load_image(training_curve([log, log], tmp_path / "chained.png")).shape == (360, 720, 3)


def test_v3_network_trains_with_the_chroma_l1_term_and_round_trips(photo_folder, tmp_path):
    config = tiny_config(
        photo_folder, architecture="tinct-unet-v3", network_config={"widths": [8, 8, 16, 16], "context_width": 8}, chroma_l1_weight=1.0, crop_size=96, final_crop_size=96
    )
    counters = train(config, tmp_path / "v3", max_steps=2, show_progress=False)
    assert counters["step"] == 2
    model = tinct.load_model(tmp_path / "v3" / "model.safetensors", device="cpu")
    assert model.architecture == "tinct-unet-v3" and model.training["config"]["chroma_l1_weight"] == 1.0
    gray = tinct.load_image(photo_folder / "coffee.jpg").mean(axis=2).astype(np.uint8)
    assert model.colorize(gray, working_size=96).shape == (*gray.shape, 3)


def test_the_l1_term_pulls_the_loss_toward_the_decoded_error():
    from tinct.models.base import encode_input
    from tinct.models.registry import build_network
    from tinct.training.loss import training_loss

    network = build_network("tinct-unet-v3", {"widths": [8, 8, 16, 16], "context_width": 8}).train()
    lightness = torch.rand(2, 1, 64, 64) * 100
    target = torch.full((2, 2, 16, 16), 40.0)
    x = encode_input(lightness)
    plain = training_loss(network, x, target).item()
    with_l1 = training_loss(network, x, target, chroma_l1_weight=2.0).item()
    decoded = network.predict_chroma(x).detach()
    expected = plain + 2.0 * (decoded - target).abs().mean().item() / 110.0
    assert with_l1 == pytest.approx(expected, rel=1e-4)
