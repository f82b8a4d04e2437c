"""Test probe, a Python plugin of its own: drives "Colorize Layer (tinct)" through Krita's GUI.

Once Krita's window is up it records where the action sits in the menus, then plays each
case of ``cases.json`` in the folder named by ``$TINCT_KRITA_PROBE``, in order, in one
Krita session, writes ``probe.json`` and quits Krita. A case is an object with:

``name``
    the case's name, the key of its record;
``model``, ``depth``
    the document's colour model and depth (Krita's default profile for them);
``pixels``
    the name of a file, in that folder, of the background layer's raw bytes (``SIZE``×``SIZE``);
``output``
    the output option, saved in Krita's settings so that the dialog starts from it;
``convert``
    ``"yes"`` or ``"no"``: the answer to the offer to convert a grayscale document;
``options``
    ``"cancel"`` to press Cancel in the options dialog (else OK);
``progress``
    ``"cancel"`` to click the progress dialog's Cancel as soon as the task has started;
``export``
    export the image before and after (``<name>.before.png``, ``<name>.after.png``);
``undo``
    afterwards, trigger Krita's ``edit_undo`` action once per command in the undo history.

For each case the probe opens a new document in a view, marks it unmodified, triggers the
action as a user would and answers the plugin's dialogs as the case says. The case ends
once the plugin has nothing more to show (its progress dialog is destroyed, which it does
when the task has ended, or it was answered no or cancel), the top layer is the active one,
and Krita's History docker, which follows the undo history through the event loop, has
stopped changing for ``SETTLE_POLLS`` polls. The probe records the dialogs' texts and values, a message box from the
plugin, the undo history (the History docker's command names, oldest first, and how many
are done) and the document's state (colour model, modified flag, each paint layer's name,
colour space and raw bytes in a file) at the end and after each undo.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import traceback
from pathlib import Path

from krita import Extension, InfoObject, Krita, Window
from PyQt5.QtCore import QEvent, QModelIndex, QObject, QTimer
from PyQt5.QtWidgets import QApplication, QDialog, QListView, QMenu, QMenuBar, QMessageBox, QProgressDialog, QPushButton

PROBE_ENV = "TINCT_KRITA_PROBE"
ACTION_ID = "tinct_colorize_layer"
UNDO_ACTION_ID = "edit_undo"
SETTINGS_GROUP = "tinct_colorize"
SIZE = 256
START_DELAY_MS = 1000
POLL_MS = 200
POLL_LIMIT = 1500
HISTORY_DOCKER = "History"
# Polls in a row without a change in the undo history, after which it counts as complete.
SETTLE_POLLS = 5


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


def _undo_history() -> dict:
    """The active document's undo history as the History docker lists it: ``commands``, the
    names of the commands, oldest first, and ``done``, how many of them are done."""
    docker = next(docker for docker in Krita.instance().dockers() if docker.objectName() == HISTORY_DOCKER)
    view = docker.findChild(QListView)
    model, root = view.model(), QModelIndex()
    rows = [model.data(model.index(row, 0, root)) for row in range(model.rowCount(root))]
    return {"commands": rows[1:], "done": view.currentIndex().row()}  # row 0 is the state before any command


def _step(method):
    """Run a probe step; any exception is recorded and ends the run (no error dialog to hang on)."""

    @functools.wraps(method)
    def step(self: Probe, *args) -> None:
        try:
            method(self, *args)
        except Exception:
            self._record["error"] = traceback.format_exc()
            self._quit()

    return step


class _ProgressWatcher(QObject):
    """Sees the plugin's progress dialog the moment it shows: cancels it if asked, and
    tells the probe when it is destroyed (the plugin deletes it once the task has ended)."""

    def __init__(self, cancel: bool, ended) -> None:
        super().__init__()
        self._cancel = cancel
        self._ended = ended

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Show and isinstance(watched, QProgressDialog):
            QApplication.instance().removeEventFilter(self)
            watched.destroyed.connect(self._ended)
            if self._cancel:  # click Cancel once the task has started
                QTimer.singleShot(0, watched.findChild(QPushButton).click)
        return False


class Probe(Extension):
    def __init__(self, parent: Krita) -> None:
        super().__init__(parent)
        self._folder = Path(os.environ[PROBE_ENV])
        self._record: dict = {"cases": {}}
        self._cases: list[dict] = []
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
        self._cases = json.loads((self._folder / "cases.json").read_text())
        self._next_case()

    @_step
    def _next_case(self) -> None:
        if not self._cases:
            self._quit()
            return
        self._case = self._cases.pop(0)
        self._case_record: dict = {}
        self._record["cases"][self._case["name"]] = self._case_record
        self._polls = 0
        self._settled = 0
        self._history: dict | None = None
        self._progress_ended = False
        self._declined = False
        case = self._case
        self._document = Krita.instance().createDocument(SIZE, SIZE, case["name"], case["model"], case["depth"], "", 72.0)
        self._document.setBatchmode(True)  # export without asking for PNG options
        layer = self._document.rootNode().childNodes()[0]
        layer.setPixelData((self._folder / case["pixels"]).read_bytes(), 0, 0, SIZE, SIZE)
        Krita.instance().activeWindow().addView(self._document)
        self._document.setActiveNode(layer)
        self._document.setModified(False)
        Krita.instance().writeSetting(SETTINGS_GROUP, "output", case.get("output", "new_layer"))
        self._case_record["modified_before"] = self._document.modified()
        if case.get("export"):
            self._export("before.png")
        self._watcher = _ProgressWatcher(case.get("progress") == "cancel", self._on_progress_ended)
        QApplication.instance().installEventFilter(self._watcher)
        QTimer.singleShot(START_DELAY_MS, Krita.instance().action(ACTION_ID).trigger)  # once the view has made the layer active
        QTimer.singleShot(START_DELAY_MS + POLL_MS, self._watch)

    def _on_progress_ended(self) -> None:
        self._progress_ended = True

    @_step
    def _watch(self) -> None:
        """Answer the plugin's dialogs as the case says; end the case once the plugin is done."""
        self._polls += 1
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QMessageBox) and dialog.standardButtons() == QMessageBox.Yes | QMessageBox.No:
            self._case_record["offer"] = dialog.text()
            answer = QMessageBox.Yes if self._case.get("convert") == "yes" else QMessageBox.No
            self._declined = answer == QMessageBox.No
            dialog.button(answer).click()
        elif isinstance(dialog, QMessageBox):  # the plugin refused or failed: record why
            self._case_record["message"] = dialog.text()
            dialog.accept()
        elif isinstance(dialog, QDialog) and not isinstance(dialog, QProgressDialog):
            self._case_record["dialog"] = dialog.windowTitle()
            # Room for the title beside a title bar's icon and buttons (about 120 px).
            self._case_record["title_fits"] = dialog.width() >= dialog.fontMetrics().horizontalAdvance(dialog.windowTitle()) + 120
            self._case_record["options"] = dataclasses.asdict(dialog.options())
            if self._case.get("options") == "cancel":
                self._declined = True
                dialog.reject()
            else:
                dialog.accept()
        elif dialog is None and (self._progress_ended or self._declined or "message" in self._case_record) and self._top_layer_active():
            self._settle()
            if self._settled >= SETTLE_POLLS:
                self._end_case()
                return
        if self._polls >= POLL_LIMIT:
            self._case_record["timeout"] = True
            self._end_case()
            return
        QTimer.singleShot(POLL_MS, self._watch)

    def _top_layer_active(self) -> bool:
        """Whether the top layer is the active one: Krita applies ``setActiveNode`` through its
        event loop, so the plugin's choice of active layer may arrive after its task ended."""
        active = self._document.activeNode()
        return active is not None and active.uniqueId() == self._document.rootNode().childNodes()[-1].uniqueId()

    def _settle(self) -> None:
        """Count the polls in a row that found the undo history as the one before."""
        history = _undo_history()
        self._settled = self._settled + 1 if history == self._history else 0
        self._history = history

    def _end_case(self) -> None:
        QApplication.instance().removeEventFilter(self._watcher)
        self._document.waitForDone()
        self._case_record["end"] = self._state("end")
        self._case_record["history"] = _undo_history()
        self._case_record["active"] = self._document.activeNode().name()
        if self._case.get("export"):
            self._export("after.png")
        self._case_record["undo"] = []
        QTimer.singleShot(POLL_MS, self._undo if self._case.get("undo") else self._next_case)

    @_step
    def _undo(self) -> None:
        """Trigger Krita's Undo once per done command, one per event-loop turn, recording each result."""
        steps = self._case_record["undo"]
        if self._case_record["history"]["done"] == len(steps):
            self._next_case()
            return
        Krita.instance().action(UNDO_ACTION_ID).trigger()
        self._document.waitForDone()
        steps.append({"history": _undo_history(), "state": self._state(f"undo{len(steps) + 1}")})
        QTimer.singleShot(POLL_MS, self._undo)

    def _state(self, label: str) -> dict:
        """The document's colour model, modified flag and paint layers (bytes in files)."""
        layers = []
        for index, node in enumerate(self._document.rootNode().childNodes()):
            if node.type() != "paintlayer":
                continue
            pixels = self._folder / f"{self._case['name']}.{label}.layer{index}.bin"
            pixels.write_bytes(bytes(node.pixelData(0, 0, SIZE, SIZE)))
            layers.append({"name": node.name(), "model": node.colorModel(), "depth": node.colorDepth(), "pixels": str(pixels)})
        return {"model": self._document.colorModel(), "modified": self._document.modified(), "layers": layers}

    def _export(self, name: str) -> None:
        self._document.exportImage(str(self._folder / f"{self._case['name']}.{name}"), InfoObject())

    def _quit(self) -> None:
        if self._finished:
            return
        self._finished = True
        (self._folder / "probe.json").write_text(json.dumps(self._record))
        for document in Krita.instance().documents():
            document.setModified(False)
        Krita.instance().action("file_quit").trigger()


Krita.instance().addExtension(Probe(Krita.instance()))
