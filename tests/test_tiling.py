"""The tiler is exact: tiled and single-pass outputs agree when the receptive field fits the margin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import tinct
from tinct.inference import Colorizer
from tinct.tiling import TilePlan, run_tiled

from local_network import LocalNetwork


@pytest.fixture(scope="module")
def local_network() -> LocalNetwork:
    torch.manual_seed(0)
    return LocalNetwork().eval()


@pytest.mark.parametrize("height, width", [(208, 336), (352, 544), (144, 1040), (400, 128)])
@pytest.mark.parametrize("tile", [64, 128, 192])
def test_tiled_equals_single_pass(local_network, height, width, tile):
    image = torch.randn(1, 4, height, width)
    context = local_network.global_context(image)
    plan = TilePlan.for_image(height, width, tile=tile, receptive_radius=local_network.receptive_radius, multiple=16, output_stride=4)
    assert len(plan.tiles) > 1
    assert plan.margin >= local_network.receptive_radius
    with torch.no_grad():
        single = local_network.predict_chroma(image, context)
        tiled = run_tiled(lambda batch: local_network.predict_chroma(batch, context.expand(batch.shape[0], -1)), image, plan, batch_size=3)
    torch.testing.assert_close(tiled, single, atol=1e-5, rtol=1e-5)


def test_tiling_without_enough_margin_is_not_exact(local_network):
    """The exactness above is not vacuous: a receptive field wider than the margin shows seams."""
    image = torch.randn(1, 4, 208, 336)
    context = local_network.global_context(image)
    plan = dataclasses.replace(TilePlan.for_image(208, 336, tile=128, receptive_radius=local_network.receptive_radius, multiple=16, output_stride=4), margin=0)
    with torch.no_grad():
        single = local_network.predict_chroma(image, context)
        tiled = run_tiled(lambda batch: local_network.predict_chroma(batch, context.expand(batch.shape[0], -1)), image, plan)
    assert (tiled - single).abs().max() > 1e-3


@pytest.mark.parametrize("size, tile, radius", [(1040, 512, 96), (912, 512, 96), (528, 512, 96), (4096, 512, 40), (160, 512, 96), (1040, 128, 96)])
def test_plan_covers_the_image_with_aligned_tiles(size, tile, radius):
    plan = TilePlan.for_image(size, size + 16, tile=tile, receptive_radius=radius, multiple=16, output_stride=4)
    overlap = 2 * plan.margin + plan.ramp
    assert plan.margin == radius or tile < 3 * radius  # exact wherever the tile has room for it
    for offsets, extent, tile_extent in ((plan.rows, plan.height, plan.tile_height), (plan.columns, plan.width, plan.tile_width)):
        assert offsets[0] == 0 and offsets[-1] + tile_extent == extent
        assert all(offset % 16 == 0 for offset in offsets)
        assert all(later - earlier <= tile_extent - overlap + 16 for earlier, later in zip(offsets, offsets[1:]))
    total = torch.zeros(plan.height // 4, plan.width // 4)
    for top, left in plan.tiles:
        total[top // 4 : (top + plan.tile_height) // 4, left // 4 : (left + plan.tile_width) // 4] += plan.weights(top, left)
    assert total.min() > 0


def test_colorizer_tiles_agree_with_single_pass(local_network, gray_photo):
    colorizer = Colorizer(local_network, device="cpu")
    image = gray_photo.astype(np.float32) / 255.0
    single = colorizer.colorize(image, working_size=544, tile=1024)
    tiled = colorizer.colorize(image, working_size=544, tile=128)
    np.testing.assert_allclose(tiled, single, atol=1e-4)


def test_out_of_memory_retries_with_smaller_tiles(local_network, gray_photo, monkeypatch):
    colorizer = Colorizer(local_network, device="cpu")
    seen_sizes = []
    predict = local_network.predict_chroma

    def limited(batch, context=None):
        seen_sizes.append(batch.shape[-1])
        if batch.shape[-1] > 128:
            raise torch.OutOfMemoryError("simulated")
        return predict(batch, context)

    monkeypatch.setattr(local_network, "predict_chroma", limited)
    result = colorizer.colorize(gray_photo, working_size=512, tile=512)
    assert result.shape == gray_photo.shape + (3,)
    assert max(seen_sizes) > 128 and seen_sizes[-1] <= 128


def test_out_of_memory_resumes_at_the_failed_tiles(local_network, gray_photo, monkeypatch):
    """Tiles done before an out-of-memory are kept; only the failed batch is split, and progress never goes back."""
    colorizer = Colorizer(local_network, device="cpu")
    image = gray_photo.astype(np.float32) / 255.0
    expected = colorizer.colorize(image, working_size=512, tile=1024)
    predict = local_network.predict_chroma
    full_tile_calls = []

    def second_batch_fails(batch, context=None):
        if batch.shape[-1] == 256:
            full_tile_calls.append(batch.shape[0])
            if len(full_tile_calls) == 2:
                raise torch.OutOfMemoryError("simulated")
        return predict(batch, context)

    monkeypatch.setattr(local_network, "predict_chroma", second_batch_fails)
    fractions = []
    result = colorizer.colorize(image, working_size=512, tile=256, progress=fractions.append)
    assert full_tile_calls == [4, 2]  # six tiles in two batches, each tried once
    assert all(later >= earlier for earlier, later in zip(fractions, fractions[1:]))
    np.testing.assert_allclose(result, expected, atol=1e-4)


def test_out_of_memory_at_smallest_tile_is_a_clear_error(local_network, gray_photo, monkeypatch):
    colorizer = Colorizer(local_network, device="cpu")

    def exhausted(batch, context=None):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(local_network, "predict_chroma", exhausted)
    with pytest.raises(tinct.TinctError, match="out of memory"):
        colorizer.colorize(gray_photo, working_size=512, tile=512)
