"""What the user chooses for a colorization, remembered in Krita's settings between runs."""

from __future__ import annotations

from dataclasses import dataclass, fields

from krita import Krita

__all__ = ["Options", "OUTPUTS", "DEVICES", "MODEL_WORKING_SIZE"]

OUTPUTS = {"new_layer": "New layer above", "replace": "Replace layer pixels"}
"""Output choice → its label."""
DEVICES = {"auto": "Auto", "cpu": "CPU", "gpu": "GPU"}
"""Worker device choice (as the worker protocol names them) → its label."""
MODEL_WORKING_SIZE = 0
"""A working size of 0 stands for the model's calibrated one; the model's ranges come from the worker."""
_SETTINGS_GROUP = "tinct_colorize"


@dataclass(frozen=True)
class Options:
    """One colorization's options; the defaults are the model's (see :data:`MODEL_WORKING_SIZE`).

    The worker checks ``working_size`` and ``saturation`` against the model's ranges.
    """

    working_size: int = MODEL_WORKING_SIZE
    saturation: float = 1.0
    output: str = "new_layer"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.working_size < 0 or self.saturation < 0:
            raise ValueError(f"working size {self.working_size} and saturation {self.saturation} must not be negative")
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
