"""The Krita half of the Krita plugin tests: ``kritarunner -s krita_scenarios -f run``.

Runs inside real Krita, with its Python (standard library, PyQt5 and ``krita`` only) and
the plugin as ``tinct install-plugin krita`` installed it on ``PYTHONPATH``. It reads the
scenarios listed in the JSON file named by ``$TINCT_KRITA_SCENARIOS``, plays each in a
fresh document through the plugin's own code path (the task the action runs, minus the
dialogs) and writes what happened beside them: every layer's raw pixel bytes and colour
space, the selection mask and the task's outcome. The test side judges the pixels.

A scenario is an object with ``name``, ``width``, ``height``, ``model``, ``depth``,
``profile`` and optionally ``pixels`` (a file of the background layer's raw bytes),
``selection`` (rectangles ``[x, y, width, height, how selected 0..255]``), ``hints`` (a file of
the raw bytes of a paint layer named "tinct hints", put on top and passed as the hints
layer), ``options`` (of the plugin's
``Options``), ``env`` (variables set while it runs, e.g. ``TINCT_PYTHON``), ``convert``
(accept the offer to convert a grayscale document) and ``cancel`` (cancel at the first
progress report).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

from krita import Document, Krita, Selection
from PyQt5.QtCore import QEventLoop, QTimer
from tinct_colorize.options import Options
from tinct_colorize.pixels import ConversionError
from tinct_colorize.task import ColorizeTask, GrayscaleDocument, Outcome, TargetError, check_target, convert_to_rgba
from tinct_colorize.worker_protocol import WorkerClient, WorkerError

SCENARIOS_ENV = "TINCT_KRITA_SCENARIOS"
TASK_TIMEOUT_MS = 180_000
_PPI = 72.0


@contextmanager
def _environment(variables: dict[str, str]):
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_task(task: ColorizeTask, cancel: bool) -> Outcome | None:
    """Start the task and wait for its outcome in an event loop, as Krita's would; None on timeout."""
    outcomes: list[Outcome] = []
    loop = QEventLoop()
    task.finished.connect(outcomes.append)
    task.finished.connect(loop.quit)
    if cancel:
        task.progressed.connect(task.cancel)
    QTimer.singleShot(TASK_TIMEOUT_MS, loop.quit)
    task.start()
    loop.exec_()
    return outcomes[0] if outcomes else None


def _dump_layers(document: Document, folder: Path, name: str) -> list[dict[str, str]]:
    layers = []
    for index, node in enumerate(document.rootNode().childNodes()):
        entry = {"name": node.name(), "type": node.type(), "model": node.colorModel(), "depth": node.colorDepth(), "profile": node.colorProfile()}
        if node.type() == "paintlayer":
            data_file = folder / f"{name}.layer{index}.bin"
            data_file.write_bytes(bytes(node.pixelData(0, 0, document.width(), document.height())))
            entry["pixels"] = str(data_file)
        layers.append(entry)
    return layers


def _play(scenario: dict, folder: Path, clients: dict[str, WorkerClient]) -> dict:
    name, width, height = scenario["name"], scenario["width"], scenario["height"]
    document = Krita.instance().createDocument(width, height, name, scenario["model"], scenario["depth"], scenario["profile"], _PPI)
    record: dict = {}
    try:
        node = document.rootNode().childNodes()[0]
        if "pixels" in scenario:
            node.setPixelData(Path(scenario["pixels"]).read_bytes(), 0, 0, width, height)
        hints_layer = None
        if "hints" in scenario:
            hints_layer = document.createNode("tinct hints", "paintlayer")
            hints_layer.setPixelData(Path(scenario["hints"]).read_bytes(), 0, 0, width, height)
            document.rootNode().addChildNode(hints_layer, node)
        if "selection" in scenario:
            selection = Selection()
            for rectangle in scenario["selection"]:
                selection.select(*rectangle)
            document.setSelection(selection)
        env = scenario.get("env", {})
        with _environment(env):
            try:
                if scenario.get("convert"):
                    try:
                        check_target(document, node)
                    except GrayscaleDocument as offer:
                        record["offer"] = str(offer)
                        convert_to_rgba(document)
                        node = document.rootNode().childNodes()[0]
                key = json.dumps(env, sort_keys=True)
                if key not in clients:
                    clients[key] = WorkerClient.from_plugin_folder("krita")
                task = ColorizeTask(document, node, Options(**scenario.get("options", {})), clients[key], hints_layer)
                outcome = _run_task(task, scenario.get("cancel", False))
                if outcome is None:
                    record["status"] = "timeout"
                else:
                    record.update(status=outcome.status, message=outcome.message)
            except (TargetError, ConversionError, WorkerError) as error:
                record.update(status="refused", message=str(error))
        record["layers"] = _dump_layers(document, folder, name)
        if document.selection() is not None:
            mask_file = folder / f"{name}.mask.bin"
            mask_file.write_bytes(bytes(document.selection().pixelData(0, 0, width, height)))
            record["mask"] = str(mask_file)
    finally:
        document.close()
    return record


def run(args: tuple = ()) -> None:
    """Play every scenario; write ``results.json`` beside the scenarios file."""
    # Krita's own hook shows an error dialog, which nobody would close here; PyQt's
    # default aborts on an exception escaping a slot, so a bug fails fast instead.
    sys.excepthook = sys.__excepthook__
    scenarios_file = Path(os.environ[SCENARIOS_ENV])
    folder = scenarios_file.parent
    results: dict[str, dict] = {}
    clients: dict[str, WorkerClient] = {}
    try:
        for scenario in json.loads(scenarios_file.read_text())["scenarios"]:
            try:
                results[scenario["name"]] = _play(scenario, folder, clients)
            except Exception:  # record the failure for the test to show, and go on
                results[scenario["name"]] = {"status": "error", "message": traceback.format_exc()}
    finally:
        for client in clients.values():
            client.close()
        (folder / "results.json").write_text(json.dumps(results, indent=1))
