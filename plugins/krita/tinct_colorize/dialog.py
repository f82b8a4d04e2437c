"""The settings dialog shown before a colorization."""

from __future__ import annotations

from typing import Any

from krita import Document, Node
from PyQt5.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from .options import DEVICES, MODEL_WORKING_SIZE, OUTPUTS, Options

__all__ = ["OptionsDialog", "ask_options", "HINTS_LAYER_NAME", "TITLE"]

TITLE = "Colorize Layer (tinct)"
HINTS_LAYER_NAME = "tinct hints"
HINTS_HELP = f"Colour hints: paint dots of colour on a layer named “{HINTS_LAYER_NAME}”; the photo follows them."
_NO_HINTS = "None"
_WORKING_SIZE_STEP = 64
_SATURATION_STEP = 0.1
# Wide enough for the title bar to show the whole title.
_MINIMUM_WIDTH = 440


def _choices(labels: dict[str, str], current: str) -> QComboBox:
    box = QComboBox()
    for value, label in labels.items():
        box.addItem(label, value)
    box.setCurrentIndex(box.findData(current))
    return box


def hint_layer_candidates(document: Document, target: Node) -> list[Node]:
    """The document's paint layers that could hold hints (all but ``target``), top first."""
    found: list[Node] = []

    def visit(node: Node) -> None:
        for child in reversed(node.childNodes()):
            if child.type() == "paintlayer" and child.uniqueId() != target.uniqueId():
                found.append(child)
            visit(child)

    visit(document.rootNode())
    return found


class OptionsDialog(QDialog):
    """Hints layer, working size, saturation, output and device, starting from ``options``.

    ``model`` is the worker's description of the model (`tinct.ModelDescriptor.to_dict()`):
    it gives the working size's default and the ranges.
    """

    def __init__(self, options: Options, model: dict[str, Any], hint_layers: list[Node], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.setMinimumWidth(_MINIMUM_WIDTH)
        self._hint_layers = hint_layers
        self._hints = QComboBox()
        self._hints.addItem(_NO_HINTS)
        for layer in hint_layers:
            self._hints.addItem(layer.name())
        default = next((index for index, layer in enumerate(hint_layers) if layer.name() == HINTS_LAYER_NAME), None)
        self._hints.setCurrentIndex(0 if default is None else default + 1)
        self._hints.setToolTip("The layer whose painted colours guide the colorization")
        self._working_size = QSpinBox()
        self._working_size.setRange(*(int(bound) for bound in model["working_size_range"]))
        self._working_size.setSingleStep(_WORKING_SIZE_STEP)
        self._working_size.setSuffix(" px")
        self._working_size.setValue(model["working_size"] if options.working_size == MODEL_WORKING_SIZE else options.working_size)
        self._working_size.setToolTip(f"Long side at which tinct looks at the image (the model's own: {model['working_size']} px); larger sees finer detail, smaller sees more context")
        self._saturation = QDoubleSpinBox()
        self._saturation.setRange(*model["saturation_range"])
        self._saturation.setSingleStep(_SATURATION_STEP)
        self._saturation.setValue(options.saturation)
        self._saturation.setToolTip("0 gives gray, 1 the model's colour, more is more vivid")
        self._output = _choices(OUTPUTS, options.output)
        self._output.setToolTip("A new layer keeps the original; replacing merges the colour into the layer (Undo takes it back)")
        self._device = _choices(DEVICES, options.device)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        help_line = QLabel(HINTS_HELP)
        help_line.setWordWrap(True)
        layout.addRow(help_line)
        layout.addRow("Hints layer:", self._hints)
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

    def hints_layer(self) -> Node | None:
        index = self._hints.currentIndex()
        return None if index == 0 else self._hint_layers[index - 1]


def ask_options(parent: QWidget | None, model: dict[str, Any], hint_layers: list[Node]) -> tuple[Options, Node | None] | None:
    """Show the dialog with the last options; the chosen ones (saved for next time) and hints layer, or None."""
    dialog = OptionsDialog(Options.load(), model, hint_layers, parent)
    if dialog.exec_() != QDialog.Accepted:
        return None
    options = dialog.options()
    options.save()
    return options, dialog.hints_layer()
