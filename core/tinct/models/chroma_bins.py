"""Quantized a*b* colour space: the classes a colorization network predicts.

Following Zhang et al., "Colorful Image Colorization" (ECCV 2016): the a*b* plane is cut
into square bins of side `BIN_SIZE` and only the bins that hold some in-gamut sRGB colour
are kept.  A network predicts a distribution over them; training targets are soft
(Gaussian over nearby bins), rare colours are up-weighted (class rebalancing) and the
prediction is decoded with the annealed mean, which is vivid where a plain mean is sepia.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from ..colour import lab_to_rgb, rgb_to_lab

BIN_SIZE = 10.0
AB_LIMIT = 110.0
# Width of the Gaussian that spreads a training target over neighbouring bins (Lab units).
SOFT_TARGET_SIGMA = 5.0
# Zhang et al.'s values: mix of empirical and uniform prior, and the decoding temperature.
REBALANCE_UNIFORM_MIX = 0.5
DEFAULT_TEMPERATURE = 0.38


@functools.lru_cache(maxsize=1)
def in_gamut_bin_centres() -> np.ndarray:
    """Centres of the a*b* bins that contain an sRGB colour at some lightness.

    Returns
    -------
    centres : float32 array, shape ``(Q, 2)``, a* and b* in Lab units (Q is about 300)
    """
    steps = np.arange(-AB_LIMIT, AB_LIMIT + BIN_SIZE / 2, BIN_SIZE)
    a, b = np.meshgrid(steps, steps, indexing="ij")
    lightness = np.linspace(1.0, 99.0, 50)
    # Sample each bin densely (offsets within the bin) at every lightness and keep it when
    # any sample survives the sRGB round trip unchanged (that is, it was in gamut).
    offsets = np.linspace(-BIN_SIZE / 2, BIN_SIZE / 2, 5)
    da, db = np.meshgrid(offsets, offsets, indexing="ij")
    lab = np.stack(
        np.broadcast_arrays(
            lightness[None, :, None],
            a.reshape(-1, 1, 1) + da.reshape(1, 1, -1),
            b.reshape(-1, 1, 1) + db.reshape(1, 1, -1),
        ),
        axis=-1,
    ).astype(np.float64)
    round_trip = rgb_to_lab(lab_to_rgb(lab))
    in_gamut = (np.abs(round_trip - lab).max(axis=-1) < 0.5).any(axis=(1, 2))
    return np.stack((a.reshape(-1), b.reshape(-1)), axis=-1)[in_gamut].astype(np.float32)


def soft_targets(ab: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Gaussian soft-encoding of ground-truth chroma over the bins.

    Parameters
    ----------
    ab : float tensor ``(B, 2, H, W)``, a* b* in Lab units
    centres : float tensor ``(Q, 2)``

    Returns
    -------
    targets : float tensor ``(B, Q, H, W)``, non-negative, summing to 1 over Q
    """
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    logits = torch.cdist(flat, centres).square_().mul_(-0.5 / SOFT_TARGET_SIGMA**2)
    targets = logits.softmax(dim=1)
    batch, _, height, width = ab.shape
    return targets.reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def rebalancing_weights(bin_counts: np.ndarray, centres: np.ndarray, uniform_mix: float = REBALANCE_UNIFORM_MIX) -> np.ndarray:
    """Per-bin loss weights that up-weight rare colours (Zhang et al. 2016, eq. 3–4).

    Parameters
    ----------
    bin_counts : array ``(Q,)``, how many training pixels fell nearest to each bin
    centres : array ``(Q, 2)``
    uniform_mix : λ in [0, 1], the share of the uniform distribution mixed into the
        empirical one; 1 turns rebalancing off, smaller values favour rare colours more

    Returns
    -------
    weights : float32 array ``(Q,)``, with expectation 1 under the empirical distribution
    """
    probability = bin_counts / max(bin_counts.sum(), 1)
    # Smooth the empirical distribution with the same Gaussian as the targets.
    distances = np.square(centres[:, None, :] - centres[None, :, :]).sum(-1)
    kernel = np.exp(-distances / (2 * SOFT_TARGET_SIGMA**2))
    smoothed = kernel @ probability
    smoothed /= smoothed.sum()
    weights = 1.0 / ((1 - uniform_mix) * smoothed + uniform_mix / len(centres))
    weights /= (smoothed * weights).sum()
    return weights.astype(np.float32)


def annealed_mean(
    logits: torch.Tensor, centres: torch.Tensor, temperature: float, *, smoothing_radius: int = 0, hue_agreement: float = 0.0
) -> torch.Tensor:
    """Decode bin logits ``(B, Q, H, W)`` to chroma ``(B, 2, H, W)`` in Lab units.

    The distribution is sharpened by ``temperature`` (1 is the plain mean, towards 0 the
    mode).  With ``smoothing_radius`` r > 0 the bin probabilities are first averaged over a
    (2r+1)² box: neighbours that hesitate between two hues then agree on the one the region
    favours, instead of sharpening into a mosaic of both.

    With ``hue_agreement`` β > 0 the mean is multiplied by R^β, where R = |mean| / E|c| (the
    length of the mean over the mean length of the bins' chroma, under the sharpened
    distribution) is 1 where the likely bins share one hue and near 0 where they disagree,
    as between green and red or around gray.  A chroma scale then saturates the pixels that
    hesitate only about how strong one colour is, while those that hesitate between hues —
    whose mean, scaled up, paints blotches and casts — stay muted.  β = 0 is the plain mean.
    """
    logits = logits.float()
    if smoothing_radius > 0:
        probabilities = F.avg_pool2d(logits.softmax(dim=1), 2 * smoothing_radius + 1, stride=1, padding=smoothing_radius, count_include_pad=False)
        logits = probabilities.clamp_min(1e-12).log()
    probabilities = (logits / temperature).softmax(dim=1)
    chroma = torch.einsum("bqhw,qc->bchw", probabilities, centres.float())
    if hue_agreement > 0:
        expected_length = torch.einsum("bqhw,q->bhw", probabilities, centres.float().norm(dim=1)).unsqueeze(1)
        agreement = (chroma.norm(dim=1, keepdim=True) / expected_length.clamp_min(1e-6)).clamp_(0.0, 1.0)
        chroma = chroma * agreement.pow_(hue_agreement)
    return chroma
