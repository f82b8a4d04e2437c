"""What the user chooses for a colorization, remembered in Krita's settings between runs."""

from __future__ import annotations

from dataclasses import dataclass, fields

from krita import Krita

__all__ = ["Options", "OUTPUTS", "DEVICES", "WORKING_SIZE_RANGE", "SATURATION_RANGE"]

OUTPUTS = {"new_layer": "New layer above", "replace": "Replace layer pixels"}
"""Output choice → its label. A new layer is non-destructive; replacing cannot be undone."""
DEVICES = {"auto": "Auto", "cpu": "CPU", "gpu": "GPU"}
"""Worker device choice (as the worker protocol names them) → its label."""
WORKING_SIZE_RANGE = (128, 4096)
"""Long side, in pixels, at which tinct looks at the image."""
SATURATION_RANGE = (0.0, 4.0)
"""Factor on the predicted chroma: 0 gives gray, 1 the model's colour."""
_SETTINGS_GROUP = "tinct_colorize"


@dataclass(frozen=True)
class Options:
    """One colorization's options; the defaults are tinct's own."""

    working_size: int = 320  # the shipped model's calibrated working size
    saturation: float = 1.0
    output: str = "new_layer"
    device: str = "auto"

    def __post_init__(self) -> None:
        if not WORKING_SIZE_RANGE[0] <= self.working_size <= WORKING_SIZE_RANGE[1]:
            raise ValueError(f"working size {self.working_size} is outside {WORKING_SIZE_RANGE}")
        if not SATURATION_RANGE[0] <= self.saturation <= SATURATION_RANGE[1]:
            raise ValueError(f"saturation {self.saturation} is outside {SATURATION_RANGE}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output {self.output!r} is not one of {', '.join(OUTPUTS)}")
        if self.device not in DEVICES:
            raise ValueError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")

    @classmethod
    def load(cls) -> Options:
        """The options saved last time; the defaults for any that are missing or unreadable."""
        defaults = cls()
        saved = {}
        for field in fields(cls):
            text = Krita.instance().readSetting(_SETTINGS_GROUP, field.name, "")
            if not text:
                continue
            try:
                saved[field.name] = type(getattr(defaults, field.name))(text)
            except ValueError:
                continue
        try:
            return cls(**saved)
        except ValueError:
            return defaults

    def save(self) -> None:
        for field in fields(self):
            Krita.instance().writeSetting(_SETTINGS_GROUP, field.name, str(getattr(self, field.name)))
