"""Test probe, a Python plugin of its own: drives "Colorize Layer (tinct)" through Krita's GUI.

Once Krita's window is up it records where the action sits in the menus, opens the image
``input.bin`` (raw U8 B, G, R, A of ``SIZE``×``SIZE``) from the folder named by
``$TINCT_KRITA_PROBE``, triggers the action as a user would, accepts the options dialog
(recording its values), waits for the colorization, exports the image before and after
(``before.png``, ``after.png``), writes ``probe.json`` and quits Krita. A message box from
the plugin is recorded and ends the run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import traceback
from pathlib import Path

from krita import Extension, InfoObject, Krita, Window
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication, QDialog, QMenu, QMenuBar, QMessageBox, QProgressDialog

PROBE_ENV = "TINCT_KRITA_PROBE"
ACTION_ID = "tinct_colorize_layer"
SIZE = 256
START_DELAY_MS = 1000
POLL_MS = 200
POLL_LIMIT = 1500


def _menu_path(menus: QMenuBar | QMenu, action) -> list[str] | None:
    """Titles of the menus leading to ``action``, e.g. ``["Tools", "Scripts"]``."""
    for entry in menus.actions():
        if entry is action:
            return []
        submenu = entry.menu()
        if submenu is not None:
            path = _menu_path(submenu, action)
            if path is not None:
                return [submenu.title().replace("&", ""), *path]
    return None


def _step(method):
    """Run a probe step; any exception is recorded and ends the run (no error dialog to hang on)."""

    @functools.wraps(method)
    def step(self: Probe) -> None:
        try:
            method(self)
        except Exception:
            self._record["error"] = traceback.format_exc()
            self._quit()

    return step


class Probe(Extension):
    def __init__(self, parent: Krita) -> None:
        super().__init__(parent)
        self._folder = Path(os.environ[PROBE_ENV])
        self._record: dict = {}
        self._polls = 0
        self._finished = False

    def setup(self) -> None:
        """Nothing before the window exists."""

    def createActions(self, window: Window) -> None:
        QTimer.singleShot(START_DELAY_MS, self._start)

    @_step
    def _start(self) -> None:
        window = Krita.instance().activeWindow()
        action = Krita.instance().action(ACTION_ID)
        self._record["action"] = None if action is None else action.text()
        self._record["menu"] = None if action is None else _menu_path(window.qwindow().menuBar(), action)
        if action is None:
            self._quit()
            return
        self._document = Krita.instance().createDocument(SIZE, SIZE, "probe", "RGBA", "U8", "", 72.0)
        self._document.setBatchmode(True)  # export without asking for PNG options
        layer = self._document.rootNode().childNodes()[0]
        layer.setPixelData((self._folder / "input.bin").read_bytes(), 0, 0, SIZE, SIZE)
        window.addView(self._document)
        self._document.setActiveNode(layer)
        self._export("before.png")
        QTimer.singleShot(START_DELAY_MS, action.trigger)  # once the view has made the layer active
        QTimer.singleShot(START_DELAY_MS + POLL_MS, self._watch)

    @_step
    def _watch(self) -> None:
        """Answer the plugin's dialogs as a user would; finish once the new layer is there."""
        self._polls += 1
        dialog = QApplication.activeModalWidget()
        names = [node.name() for node in self._document.rootNode().childNodes()]
        if isinstance(dialog, QMessageBox):  # the plugin refused or failed: record why, and stop
            self._record["message"] = dialog.text()
            dialog.accept()
            self._quit()
        elif isinstance(dialog, QDialog) and not isinstance(dialog, QProgressDialog):
            self._record["dialog"] = dialog.windowTitle()
            # Room for the title beside a title bar's icon and buttons (about 120 px).
            self._record["title_fits"] = dialog.width() >= dialog.fontMetrics().horizontalAdvance(dialog.windowTitle()) + 120
            self._record["options"] = dataclasses.asdict(dialog.options())
            dialog.accept()
        elif (len(names) > 1 and self._document.activeNode().name() == names[-1]) or self._polls >= POLL_LIMIT:
            # Krita applies setActiveNode through its event loop: wait for it, not just for the layer.
            self._document.waitForDone()
            self._record["layers"] = names
            self._record["active"] = self._document.activeNode().name()
            self._export("after.png")
            self._quit()
        if not self._finished:
            QTimer.singleShot(POLL_MS, self._watch)

    def _export(self, name: str) -> None:
        self._document.exportImage(str(self._folder / name), InfoObject())

    def _quit(self) -> None:
        self._finished = True
        (self._folder / "probe.json").write_text(json.dumps(self._record))
        for document in Krita.instance().documents():
            document.setModified(False)
        Krita.instance().action("file_quit").trigger()


Krita.instance().addExtension(Probe(Krita.instance()))
