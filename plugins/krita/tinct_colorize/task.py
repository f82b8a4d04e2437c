"""One colorization of a layer: checks, the worker run off the GUI thread, the write-back.

:class:`ColorizeTask` is what the action runs once the options are chosen. It reads the
pixels on the GUI thread (Krita's API belongs to it), sends them to the tinct worker from
a :class:`QThread` so Krita stays responsive, and writes the result back on the GUI thread
only if the run succeeded and was not cancelled: a failed or cancelled run leaves the
document exactly as it was.
"""

from __future__ import annotations

import array
import threading
from dataclasses import dataclass

from krita import Document, Node
from PyQt5.QtCore import QObject, QThread, pyqtSignal

from . import pixels
from .options import Options
from .worker_protocol import ColorizeRequest, WorkerClient, WorkerError

__all__ = ["TargetError", "GrayscaleDocument", "Outcome", "ColorizeTask", "check_target", "convert_to_rgba"]

SUPPORTED_MODEL = "RGBA"
CONVERTIBLE_MODEL = "GRAYA"
# Krita blending mode that puts a layer's pixels, alpha included, in place of those below:
# Replace is a layer in this mode merged down, which Krita can undo (a pixel write it cannot).
COPY_BLENDING = "copy"


class TargetError(Exception):
    """The active document or layer cannot be colorized; the message says what to do."""


class GrayscaleDocument(TargetError):
    """The document is grayscale (GRAYA): it can be converted to RGBA, then colorized."""


def check_target(document: Document | None, node: Node | None) -> None:
    """Raise :class:`TargetError` unless ``node`` is a paint layer of an RGBA document."""
    if document is None:
        raise TargetError("Open an image to colorize first.")
    if document.colorModel() == CONVERTIBLE_MODEL:
        raise GrayscaleDocument(
            "This image is grayscale, which cannot hold colour. Convert it to RGB (at the same bit depth) "
            "when you press OK in the next dialog?"
        )
    if document.colorModel() != SUPPORTED_MODEL:
        raise TargetError(
            f"tinct colorizes RGB images; this one is {document.colorModel()}. "
            "Convert it with Image ▸ Convert Image Color Space… to RGB/Alpha, then try again."
        )
    if node is None or node.type() != "paintlayer":
        raise TargetError("Select a paint layer to colorize.")
    if node.colorModel() != SUPPORTED_MODEL:
        raise TargetError(
            f"The layer {node.name()!r} is {node.colorModel()}. Convert it with "
            "Layer ▸ Convert ▸ Convert Layer Color Space… to RGB/Alpha, then try again."
        )


def convert_to_rgba(document: Document) -> None:
    """Convert a document to RGBA at its depth, with Krita's default RGB profile for it."""
    document.setColorSpace(SUPPORTED_MODEL, document.colorDepth(), "")
    document.waitForDone()


@dataclass(frozen=True)
class Outcome:
    """How a task ended: ``"done"`` (with the layer written), ``"cancelled"`` or ``"failed"``."""

    status: str
    message: str = ""
    layer: Node | None = None


class _WorkerThread(QThread):
    """Runs one request through the client; ``result`` or ``error`` is set when it finishes."""

    progressed = pyqtSignal(float)

    def __init__(self, client: WorkerClient, request: ColorizeRequest, payload: memoryview, hints: memoryview | None, selection: bytes | None) -> None:
        super().__init__()
        self._client = client
        self._request = request
        self._payload = payload
        self._hints = hints
        self._selection = selection
        self._cancel = threading.Event()
        self.result: bytes | bytearray | None = None
        self.error = ""

    def cancel(self) -> None:
        """Stop at the worker's next progress report (the worker is then terminated)."""
        self._cancel.set()

    def _report(self, fraction: float) -> bool:
        self.progressed.emit(fraction)
        return not self._cancel.is_set()

    def run(self) -> None:
        try:
            self.result = self._client.colorize(self._request, self._payload, self._report, hints=self._hints, selection=self._selection)
        except WorkerError as error:
            self.error = str(error)
        except Exception as error:  # the thread's boundary: report, never lose, a bug
            self.error = f"the tinct plugin failed unexpectedly ({type(error).__name__}: {error})"


class ColorizeTask(QObject):
    """Colorize ``node`` of ``document`` (the selected part, if any) with ``options``.

    Construction reads the pixels and raises :class:`TargetError` for an unsuitable target
    (:class:`pixels.ConversionError` if Krita cannot convert its pixels);
    :meth:`start` runs the worker; ``finished`` then carries an :class:`Outcome`. Progress
    arrives as fractions in [0, 1] through ``progressed``.
    """

    progressed = pyqtSignal(float)
    finished = pyqtSignal(object)

    def __init__(self, document: Document, node: Node, options: Options, client: WorkerClient, hints_layer: Node | None = None) -> None:
        super().__init__()
        check_target(document, node)
        if hints_layer is not None and hints_layer.colorModel() != SUPPORTED_MODEL:
            raise TargetError(f"The hints layer {hints_layer.name()!r} is {hints_layer.colorModel()}; paint the hints on an RGB/Alpha paint layer.")
        bounds = pixels.work_region(document)
        if bounds is None:
            raise TargetError("The selection does not cover any of the image.")
        self._document = document
        self._node = node
        self._options = options
        self._bounds = bounds
        original = pixels.read_samples(node, bounds)
        self._mask = pixels.selection_mask(document, bounds)
        hints = None if hints_layer is None else pixels.to_little_endian(pixels.read_samples(hints_layer, bounds))
        request = ColorizeRequest(
            width=bounds.width,
            height=bounds.height,
            channels=pixels.CHANNELS,
            sample_format="float32",
            working_size=options.working_size or None,
            saturation=options.saturation,
            device=options.device,
            hints=hints is not None,
            selection=None if self._mask is None else ("alpha" if options.output == "new_layer" else "blend"),
        )
        self._thread = _WorkerThread(client, request, pixels.to_little_endian(original), hints, self._mask)
        self._thread.progressed.connect(self.progressed)
        self._thread.finished.connect(self._finish)
        self._cancelled = False

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Give up: the document stays untouched, whenever the worker notices."""
        self._cancelled = True
        self._thread.cancel()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def _finish(self) -> None:
        if self._cancelled:
            outcome = Outcome("cancelled")
        elif self._thread.result is None:
            outcome = Outcome("failed", self._thread.error)
        else:
            try:
                outcome = Outcome("done", layer=self._write(pixels.from_little_endian(self._thread.result)))
            except Exception as error:  # a slot must not raise: Krita would leave the task hanging
                outcome = Outcome("failed", f"writing the result into the layer failed ({type(error).__name__}: {error})")
        self.finished.emit(outcome)

    def _write(self, result: array.array) -> Node:
        """Write the result as the options say; the layer that holds it afterwards.

        Both outputs go through a new layer, filled before it is added, so every change to
        the document is one Krita can undo: "new layer" keeps it above the original;
        "replace" merges it down in a blending mode that puts its pixels in place of the
        layer's (it starts as a copy of the layer, so pixels outside the work region stay).
        Pixels the selection leaves out get the layer's original bytes, bit for bit.
        """
        if self._options.output == "new_layer":
            layer = self._document.createNode(f"{self._node.name()} (tinct)", "paintlayer")
            pixels.write_samples(layer, self._bounds, result)
            self._node.parentNode().addChildNode(layer, self._node)
            self._document.setActiveNode(layer)
        else:
            layer = self._node.duplicate()
            layer.setName(f"{self._node.name()} (tinct)")
            keep = None if self._mask is None else (self._mask, bytes(self._node.pixelData(*self._bounds)))
            pixels.write_samples(layer, self._bounds, result, keep=keep)
            layer.setBlendingMode(COPY_BLENDING)
            self._node.parentNode().addChildNode(layer, self._node)
            layer = layer.mergeDown()
            self._document.setActiveNode(layer)
        self._document.refreshProjection()
        self._document.waitForDone()
        return layer
