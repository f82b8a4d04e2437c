"""The Krita extension: the "Colorize Layer (tinct)" action and its dialogs.

Actions made with ``Window.createAction`` join Krita's action collection, so the user can
give this one a shortcut under Settings ▸ Configure Krita ▸ Keyboard Shortcuts.
"""

from __future__ import annotations

from krita import Document, Extension, Krita, Window
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QMessageBox, QProgressDialog, QWidget

from .dialog import TITLE as DIALOG_TITLE
from .dialog import ask_options, hint_layer_candidates
from .options import Options
from .pixels import ConversionError
from .task import ColorizeTask, GrayscaleDocument, Outcome, TargetError, check_target, convert_to_rgba
from .worker_protocol import WorkerClient, WorkerError

__all__ = ["TinctExtension", "ACTION_ID", "ACTION_TEXT", "MENU_LOCATION"]

ACTION_ID = "tinct_colorize_layer"
ACTION_TEXT = DIALOG_TITLE
MENU_LOCATION = "tools/scripts"
TITLE = "tinct"
_PERCENT = 100


class TinctExtension(Extension):
    """Adds the action; keeps one worker client, so the model stays loaded between runs."""

    def __init__(self, parent: Krita) -> None:
        super().__init__(parent)
        self._client: WorkerClient | None = None
        self._task: ColorizeTask | None = None
        self._progress: QProgressDialog | None = None

    def setup(self) -> None:
        """Nothing to prepare before Krita's windows exist."""

    def createActions(self, window: Window) -> None:
        action = window.createAction(ACTION_ID, ACTION_TEXT, MENU_LOCATION)
        action.setToolTip("Colorize the active layer, or its selected part, with tinct")
        action.triggered.connect(self.colorize_active_layer)

    def colorize_active_layer(self) -> None:
        """Ask for options and colorize the active layer, reporting every problem in a message box."""
        window = Krita.instance().activeWindow()
        parent = window.qwindow() if window is not None else None
        if self._task is not None and self._task.is_running():
            QMessageBox.information(parent, TITLE, "tinct is still stopping the previous colorization; try again in a moment.")
            return
        document = Krita.instance().activeDocument()
        try:
            convert = _needs_conversion(document, parent)
            if convert is None:
                return
            node = document.activeNode()
            if self._client is None:
                self._client = WorkerClient.from_plugin_folder("krita")
            model = self._client.describe(device=Options.load().device)
            chosen = ask_options(parent, model, hint_layer_candidates(document, node))
            if chosen is None:
                return
            options, hints_layer = chosen
            if convert:  # only now that the user has said OK
                convert_to_rgba(document)
                node = document.activeNode()
            task = ColorizeTask(document, node, options, self._client, hints_layer)
        except (TargetError, ConversionError, WorkerError) as error:
            QMessageBox.warning(parent, TITLE, str(error))
            return
        self._task = task
        self._progress = _ProgressWindow(task, node.name(), parent)
        task.start()


def _needs_conversion(document: Document | None, parent: QWidget | None) -> bool | None:
    """Whether the grayscale document is to be converted to RGB (the user agreed); None if
    the user declined. Raises :class:`TargetError` for a target that cannot be colorized."""
    node = document.activeNode() if document is not None else None
    try:
        check_target(document, node)
    except GrayscaleDocument as question:
        if QMessageBox.question(parent, TITLE, str(question)) != QMessageBox.Yes:
            return None
        if node is None or node.type() != "paintlayer":
            raise TargetError("Select a paint layer to colorize.") from None
        return True
    return False


class _ProgressWindow(QProgressDialog):
    """A progress dialog that follows a task; its Cancel cancels it; failures get a message box."""

    def __init__(self, task: ColorizeTask, layer_name: str, parent: QWidget | None) -> None:
        super().__init__(f"Starting tinct for {layer_name}…", "Cancel", 0, 0, parent)
        self._layer_name = layer_name
        self.setWindowTitle(TITLE)
        self.setWindowModality(Qt.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoReset(False)
        self.canceled.connect(task.cancel)
        task.progressed.connect(self._show_progress)
        task.finished.connect(self._show_outcome)
        self.show()

    def _show_progress(self, fraction: float) -> None:
        if self.wasCanceled():
            return
        self.setMaximum(_PERCENT)
        self.setLabelText(f"Colorizing {self._layer_name}…")
        self.setValue(round(fraction * _PERCENT))

    def _show_outcome(self, outcome: Outcome) -> None:
        self.close()
        if outcome.status == "failed":
            QMessageBox.critical(self.parentWidget(), TITLE, f"Colorization failed: {outcome.message}")
        self.deleteLater()
