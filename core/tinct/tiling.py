"""Running a network over overlapping tiles and blending the results.

Three parts, after chaiNNer's tiler: a frozen `TilePlan` (where the tiles are and how
their outputs are weighted), `run_tiled` (evaluates the tiles in batches and blends),
and the caller's out-of-memory policy (the `Colorizer` splits a tile that does not fit
into smaller tiles and carries on, so the tiles already done are kept).

Blending is exact by construction: a tile's weight is zero within ``margin`` input pixels
of each edge it shares with a neighbour, and rises smoothly after that.  So if the
network's receptive radius is at most ``margin``, every output that gets weight equals
the single-pass output, and the normalised blend equals it to float precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["TilePlan", "run_tiled"]


def _axis_offsets(size: int, tile: int, overlap: int, multiple: int) -> tuple[int, ...]:
    """Tile starts along one axis: evenly spread, multiples of ``multiple``, covering ``size``."""
    if size <= tile:
        return (0,)
    count = math.ceil((size - overlap) / (tile - overlap))
    last = size - tile
    return tuple(sorted({min(round(index * last / (count - 1) / multiple) * multiple, last) for index in range(count)}))


def _smoothstep(values: torch.Tensor) -> torch.Tensor:
    values = values.clamp(0.0, 1.0)
    return values * values * (3.0 - 2.0 * values)


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one image lie, in input pixels.

    ``height`` and ``width`` are the (padded) input size, multiples of ``multiple``;
    every tile is ``tile_height × tile_width``; outputs are ``output_stride`` times smaller.
    """

    height: int
    width: int
    tile_height: int
    tile_width: int
    margin: int
    ramp: int
    output_stride: int
    rows: tuple[int, ...]
    columns: tuple[int, ...]

    @classmethod
    def for_image(cls, height: int, width: int, *, tile: int, receptive_radius: int, multiple: int, output_stride: int) -> "TilePlan":
        """Plan tiles of at most ``tile`` pixels for a network of the given receptive radius.

        The exactness margin is the receptive radius, and a blending ramp of half of it lies
        between the margins of two neighbours: the overlap is ``2.5 × receptive_radius``,
        rounded up to ``multiple`` (which must divide ``height`` and ``width`` and be a
        multiple of ``output_stride``).  A tile too small for that (an out-of-memory retry)
        overlaps by half its side and its margin shrinks: blending is then close, not exact.
        """
        tile = max(multiple, tile // multiple * multiple)
        wanted = 2 * receptive_radius + max(receptive_radius // 2, 1)
        overlap = min(math.ceil(wanted / multiple) * multiple, max(multiple, tile // 2 // multiple * multiple))
        margin = min(receptive_radius, (overlap - 1) // 2)
        return cls(
            height=height,
            width=width,
            tile_height=min(tile, height),
            tile_width=min(tile, width),
            margin=margin,
            ramp=overlap - 2 * margin,
            output_stride=output_stride,
            rows=_axis_offsets(height, tile, overlap, multiple),
            columns=_axis_offsets(width, tile, overlap, multiple),
        )

    @property
    def tiles(self) -> list[tuple[int, int]]:
        """``(top, left)`` of every tile, row by row."""
        return [(top, left) for top in self.rows for left in self.columns]

    def _axis_weights(self, start: int, length: int, size: int, device: torch.device) -> torch.Tensor:
        stride = self.output_stride
        centres = start + (torch.arange(length // stride, device=device, dtype=torch.float32) + 0.5) * stride
        weights = torch.ones_like(centres)
        if start > 0:
            weights *= _smoothstep((centres - start - self.margin) / self.ramp)
        if start + length < size:
            weights *= _smoothstep((start + length - self.margin - centres) / self.ramp)
        return weights

    def weights(self, top: int, left: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Blending weights of one tile's output, ``(tile_height / s, tile_width / s)`` float32 in [0, 1]."""
        device = torch.device(device)
        rows = self._axis_weights(top, self.tile_height, self.height, device)
        columns = self._axis_weights(left, self.tile_width, self.width, device)
        return rows[:, None] * columns[None, :]


def run_tiled(
    predict: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    plan: TilePlan,
    *,
    batch_size: int = 4,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Evaluate ``predict`` tile by tile over ``image`` and blend.

    Parameters
    ----------
    predict : maps a batch ``(B, C_in, tile_height, tile_width)`` to ``(B, C_out, tile_height / s, tile_width / s)``
    image : ``(1, C_in, plan.height, plan.width)``
    plan : the tiles
    batch_size : tiles evaluated together
    progress : called with the fraction of tiles done (0..1)

    Returns
    -------
    ``(1, C_out, plan.height / s, plan.width / s)`` float32, on ``image``'s device
    """
    stride = plan.output_stride
    tiles = plan.tiles
    blended: torch.Tensor | None = None
    total_weight = torch.zeros(plan.height // stride, plan.width // stride, device=image.device)
    for first in range(0, len(tiles), batch_size):
        batch_tiles = tiles[first : first + batch_size]
        batch = torch.cat([image[:, :, top : top + plan.tile_height, left : left + plan.tile_width] for top, left in batch_tiles])
        outputs = predict(batch).float()
        if blended is None:
            blended = torch.zeros(1, outputs.shape[1], *total_weight.shape, device=image.device)
        for output, (top, left) in zip(outputs, batch_tiles):
            weight = plan.weights(top, left, image.device)
            rows = slice(top // stride, (top + plan.tile_height) // stride)
            columns = slice(left // stride, (left + plan.tile_width) // stride)
            blended[0, :, rows, columns] += output * weight
            total_weight[rows, columns] += weight
        if progress is not None:
            progress(min(first + batch_size, len(tiles)) / len(tiles))
    assert blended is not None
    return blended / total_weight
