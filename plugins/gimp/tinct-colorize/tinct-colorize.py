#!/usr/bin/env python3
"""tinct for GIMP 3: Filters ▸ Colors ▸ Colorize (tinct)…, PDB procedure ``plug-in-tinct-colorize``.

The plug-in only moves pixels: it reads the selected part of each chosen layer as
gamma-encoded sRGB float32 (no 8-bit rounding at any image precision), has the tinct worker
colorize it in the user's tinct environment (see ``worker_protocol.py``, installed beside
this file by ``tinct install-plugin gimp``), and writes the result back through the shadow
buffer, so the selection (feathering included) decides what changes, in one undo step.
Nothing is written unless every layer was colorized: a failure or a Cancel (GIMP ends the
plug-in, and with it the worker) leaves the image as it was.

Arguments (interactive dialog, batch and Script-Fu alike; GIMP remembers the last values):
``working-size`` (int, 16..16384), ``saturation`` (float, 0..4), ``output`` ("replace" |
"new-layer") and ``device`` ("auto" | "cpu" | "gpu").
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

PROCEDURE_NAME = "plug-in-tinct-colorize"
PLUGIN_FOLDER = Path(__file__).parent  # not resolved: with a linked install the files beside the link count
# Gamma-encoded sRGB floats: exact for 8- and 16-bit images, and what tinct expects.
FORMATS = {3: "R'G'B' float", 4: "R'G'B'A float"}
OUTPUTS = (("replace", "Replace the layer"), ("new-layer", "New layer above it"))
DEVICES = (("auto", "Auto (GPU if available)"), ("cpu", "CPU"), ("gpu", "GPU"))


class CannotColorize(Exception):
    """The image or layer cannot be colorized; the message tells the user what to do."""


class Region(NamedTuple):
    """A rectangle in a drawable's own pixel coordinates."""

    x: int
    y: int
    width: int
    height: int

    def rectangle(self) -> Gegl.Rectangle:
        return Gegl.Rectangle.new(self.x, self.y, self.width, self.height)


@dataclass(frozen=True)
class Options:
    """The procedure's arguments."""

    working_size: int
    saturation: float
    new_layer: bool
    device: str

    @classmethod
    def from_config(cls, config: Gimp.ProcedureConfig) -> Options:
        return cls(
            working_size=config.get_property("working-size"),
            saturation=config.get_property("saturation"),
            new_layer=config.get_property("output") == "new-layer",
            device=config.get_property("device"),
        )


@dataclass(frozen=True)
class Colorized:
    """A layer's colorized pixels, waiting to be written: ``FORMATS[channels]`` samples."""

    layer: Gimp.Layer
    region: Region
    channels: int
    pixels: bytes | bytearray


def _worker_protocol() -> ModuleType:
    """``worker_protocol.py`` from beside this file (installed there by ``tinct install-plugin``)."""
    path = PLUGIN_FOLDER / "worker_protocol.py"
    spec = importlib.util.spec_from_file_location("worker_protocol", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise CannotColorize(f"{path} is missing: run `tinct install-plugin gimp` in your tinct environment")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _choice(entries: tuple[tuple[str, str], ...]) -> Gimp.Choice:
    choice = Gimp.Choice.new()
    for index, (nick, label) in enumerate(entries):
        choice.add(nick, index, label, "")
    return choice


def _check_drawables(image: Gimp.Image, drawables: list[Gimp.Drawable]) -> None:
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise CannotColorize("tinct cannot colorize an indexed image (its palette fixes the colours): choose Image ▸ Mode ▸ RGB first")
    if not drawables:
        raise CannotColorize("no layer is selected: select the layer to colorize")
    for drawable in drawables:
        if not drawable.is_layer() or drawable.is_group_layer():
            raise CannotColorize(f"“{drawable.get_name()}” is not a pixel layer: tinct colorizes layers, not masks, channels or layer groups")


def _colorize_layers(drawables: list[Gimp.Layer], options: Options, client: Any, protocol: ModuleType) -> list[Colorized]:
    """Colorize the selected part of each layer; the image is not touched."""
    results = []
    for index, layer in enumerate(drawables):
        intersects, x, y, width, height = layer.mask_intersect()
        if not intersects:
            continue
        region = Region(x, y, width, height)
        channels = 4 if layer.has_alpha() else 3
        pixels = layer.get_buffer().get(region.rectangle(), 1.0, FORMATS[channels], Gegl.AbyssPolicy.NONE)
        request = protocol.ColorizeRequest(
            width=width,
            height=height,
            channels=channels,
            sample_format="float32",
            working_size=options.working_size,
            saturation=options.saturation,
            device=options.device,
        )
        Gimp.progress_set_text(f"Colorizing “{layer.get_name()}” with tinct")

        def report(fraction: float, done: int = index) -> None:
            Gimp.progress_update((done + fraction) / len(drawables))

        results.append(Colorized(layer, region, channels, client.colorize(request, pixels, report)))
    return results


def _write(image: Gimp.Image, colorized: Colorized, new_layer: bool) -> None:
    """Write one result through the layer's (or a new copy's) shadow buffer."""
    layer = colorized.layer
    if new_layer:
        original = layer
        layer = original.copy()
        layer.set_name(f"{original.get_name()} (tinct)")
        image.insert_layer(layer, original.get_parent(), image.get_item_position(original))
    shadow = layer.get_shadow_buffer()
    shadow.set(colorized.region.rectangle(), FORMATS[colorized.channels], colorized.pixels)
    shadow.flush()
    layer.merge_shadow(True)
    layer.update(*colorized.region)


def colorize_image(image: Gimp.Image, drawables: list[Gimp.Drawable], options: Options, protocol: ModuleType) -> None:
    """Colorize the drawables' selected parts, then write them all in one undo step.

    Raises :class:`CannotColorize` or ``protocol.WorkerError`` before anything is written.
    """
    _check_drawables(image, drawables)
    Gimp.progress_init("Starting tinct")
    with protocol.WorkerClient.from_plugin_folder("gimp", PLUGIN_FOLDER) as client:
        results = _colorize_layers(drawables, options, client, protocol)
    if not results:
        return
    Gimp.context_push()
    image.undo_group_start()
    try:
        if image.get_base_type() == Gimp.ImageBaseType.GRAY:
            image.convert_rgb()
        for colorized in results:
            _write(image, colorized, options.new_layer)
    finally:
        image.undo_group_end()
        Gimp.context_pop()
    Gimp.displays_flush()


def _execution_error(procedure: Gimp.Procedure, error: Exception) -> Gimp.ValueArray:
    message = GLib.Error.new_literal(Gimp.PlugIn.error_quark(), str(error), 0)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, message)


def run(
    procedure: Gimp.ImageProcedure,
    run_mode: Gimp.RunMode,
    image: Gimp.Image,
    drawables: list[Gimp.Drawable],
    config: Gimp.ProcedureConfig,
    data: object,
) -> Gimp.ValueArray:
    if run_mode == Gimp.RunMode.INTERACTIVE:
        GimpUi.init("tinct-colorize")
        dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config)
        dialog.fill(None)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    Gegl.init(None)
    try:
        protocol = _worker_protocol()
    except CannotColorize as error:
        return _execution_error(procedure, error)
    try:
        colorize_image(image, drawables, Options.from_config(config), protocol)
    except (CannotColorize, protocol.WorkerError) as error:
        return _execution_error(procedure, error)
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class TinctColorize(Gimp.PlugIn):
    """Registers ``plug-in-tinct-colorize`` under Filters ▸ Colors."""

    def do_query_procedures(self) -> list[str]:
        return [PROCEDURE_NAME]

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES)
        procedure.set_menu_label("_Colorize (tinct)…")
        procedure.add_menu_path("<Image>/Filters/Colors")
        procedure.set_documentation(
            "Colorize grayscale photographs automatically",
            "Predicts the colours of a grayscale photograph with tinct, keeping its lightness. "
            "Works on the selection of the chosen layers; a grayscale image becomes RGB.",
            name,
        )
        procedure.set_attribution("tinct contributors", "tinct contributors", "2026")
        flags = GObject.ParamFlags.READWRITE
        procedure.add_int_argument(
            "working-size", "_Working size", "Long side in pixels at which tinct looks at the image "
            "(larger sees finer detail, smaller sees more context)", 16, 16384, 320, flags,
        )
        procedure.add_double_argument("saturation", "_Saturation", "Scales the predicted colour (0 = gray, 1 = as predicted)", 0.0, 4.0, 1.0, flags)
        procedure.add_choice_argument("output", "_Output", "Where the colour goes", _choice(OUTPUTS), "replace", flags)
        procedure.add_choice_argument("device", "_Device", "Where tinct computes", _choice(DEVICES), "auto", flags)
        return procedure


Gimp.main(TinctColorize.__gtype__, sys.argv)
