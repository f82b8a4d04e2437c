"""The one exception family of tinct: every error a user can cause is a `TinctError`."""

from __future__ import annotations

__all__ = ["TinctError", "ModelError", "ImageError", "DeviceError", "TrainingError"]


class TinctError(Exception):
    """Base class of every error tinct raises on purpose; its message says what to do."""


class ModelError(TinctError):
    """A model file is missing, truncated, corrupt, foreign or does not match its metadata."""


class ImageError(TinctError):
    """An input image cannot be read, is of an unsupported kind, or an output cannot be written."""


class DeviceError(TinctError):
    """The requested compute device is not available on this machine."""


class TrainingError(TinctError):
    """Training cannot start or resume (no images, bad configuration, incompatible checkpoint)."""
