"""The settings dialog shown before a colorization."""

from __future__ import annotations

from PyQt5.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from .options import DEVICES, OUTPUTS, SATURATION_RANGE, WORKING_SIZE_RANGE, Options

__all__ = ["OptionsDialog", "ask_options"]

_WORKING_SIZE_STEP = 64
_SATURATION_STEP = 0.1


def _choices(labels: dict[str, str], current: str) -> QComboBox:
    box = QComboBox()
    for value, label in labels.items():
        box.addItem(label, value)
    box.setCurrentIndex(box.findData(current))
    return box


class OptionsDialog(QDialog):
    """Working size, saturation, output and device, starting from ``options``."""

    def __init__(self, options: Options, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Colorize Layer (tinct)")
        self._working_size = QSpinBox()
        self._working_size.setRange(*WORKING_SIZE_RANGE)
        self._working_size.setSingleStep(_WORKING_SIZE_STEP)
        self._working_size.setSuffix(" px")
        self._working_size.setValue(options.working_size)
        self._working_size.setToolTip("Long side at which tinct looks at the image: larger sees finer detail, smaller sees more context")
        self._saturation = QDoubleSpinBox()
        self._saturation.setRange(*SATURATION_RANGE)
        self._saturation.setSingleStep(_SATURATION_STEP)
        self._saturation.setValue(options.saturation)
        self._saturation.setToolTip("0 gives gray, 1 the model's colour, more is more vivid")
        self._output = _choices(OUTPUTS, options.output)
        self._output.setToolTip("A new layer keeps the original; replacing its pixels cannot be undone")
        self._device = _choices(DEVICES, options.device)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow("Working size:", self._working_size)
        layout.addRow("Saturation:", self._saturation)
        layout.addRow("Output:", self._output)
        layout.addRow("Device:", self._device)
        layout.addRow(buttons)

    def options(self) -> Options:
        return Options(
            working_size=self._working_size.value(),
            saturation=self._saturation.value(),
            output=self._output.currentData(),
            device=self._device.currentData(),
        )


def ask_options(parent: QWidget | None) -> Options | None:
    """Show the dialog with the last options; the chosen ones (saved for next time), or None."""
    dialog = OptionsDialog(Options.load(), parent)
    if dialog.exec_() != QDialog.Accepted:
        return None
    options = dialog.options()
    options.save()
    return options
