#!/usr/bin/env python3
"""tinct for GIMP 3: Filters ▸ Enhance ▸ Colorize Photo (tinct)…, PDB procedure ``plug-in-tinct-colorize``.

The plug-in only moves pixels: it reads the selected part of each chosen layer as
gamma-encoded sRGB float32 (no 8-bit rounding at any image precision), has the tinct worker
colorize it in the user's tinct environment (see ``worker_protocol.py``, installed beside
this file by ``tinct install-plugin gimp``), and writes the result back through the shadow
buffer, so the selection (feathering included) decides what changes, in one undo step.
Nothing is written unless every layer was colorized: a failure or a Cancel (GIMP ends the
plug-in, and with it the worker) leaves the image as it was.

Colour hints: dots or short strokes of colour painted on a layer (by default the one named
:data:`HINTS_LAYER_NAME`) make the colour follow them; the worker reads that layer's
pixels over the same region, and the hint layer is hidden in the same undo step (its
pixels stay as they were), so the result shows.

Arguments (interactive dialog, batch and Script-Fu alike; GIMP remembers the last values):
``working-size`` (int; 0 = the model's calibrated size, which the dialog starts from;
the model's range is checked by the worker), ``saturation`` (float, 0..4), ``output``
("replace" | "new-layer"), ``device`` ("auto" | "cpu" | "gpu") and ``hints-layer`` (a
layer of the image, or none).
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
HINTS_LAYER_NAME = "tinct hints"
HINTS_HELP = f"Colour hints: paint dots of colour on a layer named “{HINTS_LAYER_NAME}”; the photo follows them."
# The model's own working size (asked from the worker in the dialog).
MODEL_WORKING_SIZE = 0
HINTS_FORMAT = FORMATS[4]
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

    working_size: int | None
    saturation: float
    new_layer: bool
    device: str
    hints_layer: Gimp.Layer | None

    @classmethod
    def from_config(cls, config: Gimp.ProcedureConfig) -> Options:
        working_size = config.get_property("working-size")
        return cls(
            working_size=None if working_size == MODEL_WORKING_SIZE else working_size,
            saturation=config.get_property("saturation"),
            new_layer=config.get_property("output") == "new-layer",
            device=config.get_property("device"),
            hints_layer=config.get_property("hints-layer"),
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


def _belongs_to(layer: Gimp.Layer, image: Gimp.Image) -> bool:
    """Whether ``layer`` still exists and is in ``image`` (GIMP remembers a layer argument across images)."""
    return layer.is_valid() and layer.get_image().get_id() == image.get_id()


def _default_hints_layer(image: Gimp.Image) -> Gimp.Layer | None:
    """The image's layer named :data:`HINTS_LAYER_NAME`, if it has one."""
    return next((layer for layer in image.get_layers() if layer.get_name() == HINTS_LAYER_NAME), None)


def _check_drawables(image: Gimp.Image, drawables: list[Gimp.Drawable], hints_layer: Gimp.Layer | None) -> None:
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise CannotColorize("tinct cannot colorize an indexed image (its palette fixes the colours): choose Image ▸ Mode ▸ RGB first")
    if not drawables:
        raise CannotColorize("no layer is selected: select the layer to colorize")
    for drawable in drawables:
        if not drawable.is_layer() or drawable.is_group_layer():
            raise CannotColorize(f"“{drawable.get_name()}” is not a pixel layer: tinct colorizes layers, not masks, channels or layer groups")
    if hints_layer is not None:
        if not _belongs_to(hints_layer, image):
            raise CannotColorize("the hints layer belongs to another image or was deleted: choose a layer of this image")
        if any(drawable.get_id() == hints_layer.get_id() for drawable in drawables):
            raise CannotColorize(f"“{hints_layer.get_name()}” is the hints layer: select the photo's layer to colorize, not the hints")


def _hint_pixels(hints_layer: Gimp.Layer, layer: Gimp.Layer, region: Region) -> bytes:
    """The hints layer's RGBA float samples over ``region`` of ``layer`` (transparent where it has no pixels)."""
    _, layer_x, layer_y = layer.get_offsets()
    _, hints_x, hints_y = hints_layer.get_offsets()
    area = Region(region.x + layer_x - hints_x, region.y + layer_y - hints_y, region.width, region.height)
    return hints_layer.get_buffer().get(area.rectangle(), 1.0, HINTS_FORMAT, Gegl.AbyssPolicy.NONE)


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
        hints = None if options.hints_layer is None else _hint_pixels(options.hints_layer, layer, region)
        request = protocol.ColorizeRequest(
            width=width,
            height=height,
            channels=channels,
            sample_format="float32",
            working_size=options.working_size,
            saturation=options.saturation,
            device=options.device,
            hints=hints is not None,
        )
        Gimp.progress_set_text(f"Colorizing “{layer.get_name()}” with tinct")

        def report(fraction: float, done: int = index) -> None:
            Gimp.progress_update((done + fraction) / len(drawables))

        results.append(Colorized(layer, region, channels, client.colorize(request, pixels, report, hints=hints)))
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


def colorize_image(image: Gimp.Image, drawables: list[Gimp.Drawable], options: Options, protocol: ModuleType, client: Any) -> None:
    """Colorize the drawables' selected parts, then write them all in one undo step.

    Raises :class:`CannotColorize` or ``protocol.WorkerError`` before anything is written.
    """
    _check_drawables(image, drawables, options.hints_layer)
    Gimp.progress_init("Starting tinct")
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
        if options.hints_layer is not None:
            options.hints_layer.set_visible(False)  # so the result shows; undone with it
    finally:
        image.undo_group_end()
        Gimp.context_pop()
    Gimp.displays_flush()


def _execution_error(procedure: Gimp.Procedure, error: Exception) -> Gimp.ValueArray:
    message = GLib.Error.new_literal(Gimp.PlugIn.error_quark(), str(error), 0)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, message)


def _ask_options(procedure: Gimp.ImageProcedure, image: Gimp.Image, config: Gimp.ProcedureConfig, client: Any) -> bool:
    """Show the dialog, starting from the model's working size and the image's hints layer; True if accepted."""
    if config.get_property("working-size") == MODEL_WORKING_SIZE:
        config.set_property("working-size", client.describe(device=config.get_property("device"))["working_size"])
    hints_layer = config.get_property("hints-layer")
    if hints_layer is None or not _belongs_to(hints_layer, image):
        config.set_property("hints-layer", _default_hints_layer(image))
    GimpUi.init("tinct-colorize")
    dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config)
    dialog.get_label("hints-help", HINTS_HELP, False, False)
    dialog.fill(["hints-help", "hints-layer", "working-size", "saturation", "output", "device"])
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def run(
    procedure: Gimp.ImageProcedure,
    run_mode: Gimp.RunMode,
    image: Gimp.Image,
    drawables: list[Gimp.Drawable],
    config: Gimp.ProcedureConfig,
    data: object,
) -> Gimp.ValueArray:
    Gegl.init(None)
    try:
        protocol = _worker_protocol()
    except CannotColorize as error:
        return _execution_error(procedure, error)
    try:
        with protocol.WorkerClient.from_plugin_folder("gimp", PLUGIN_FOLDER) as client:
            if run_mode == Gimp.RunMode.INTERACTIVE and not _ask_options(procedure, image, config, client):
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
            colorize_image(image, drawables, Options.from_config(config), protocol, client)
    except (CannotColorize, protocol.WorkerError) as error:
        return _execution_error(procedure, error)
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class TinctColorize(Gimp.PlugIn):
    """Registers ``plug-in-tinct-colorize`` under Filters ▸ Enhance."""

    def do_query_procedures(self) -> list[str]:
        return [PROCEDURE_NAME]

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES)
        procedure.set_menu_label("_Colorize Photo (tinct)…")
        procedure.add_menu_path("<Image>/Filters/Enhance")
        procedure.set_documentation(
            "Colorize grayscale photographs automatically",
            "Predicts the colours of a grayscale photograph with tinct, keeping its lightness. "
            "Works on the selection of the chosen layers; a grayscale image becomes RGB. " + HINTS_HELP,
            name,
        )
        procedure.set_attribution("tinct contributors", "tinct contributors", "2026")
        flags = GObject.ParamFlags.READWRITE
        # Mnemonics clear of the dialog's own: _Help, _Reset, _Cancel, _OK and Save Settings (S).
        procedure.add_layer_argument(
            "hints-layer", "Hints la_yer", f"Layer whose painted colours guide the colorization (default: “{HINTS_LAYER_NAME}”)", True, flags
        )
        procedure.add_int_argument(
            "working-size", "_Working size", "Long side in pixels at which tinct looks at the image "
            "(larger sees finer detail, smaller sees more context; 0 = the model's calibrated size)",
            MODEL_WORKING_SIZE, GLib.MAXINT32, MODEL_WORKING_SIZE, flags,
        )
        procedure.add_double_argument("saturation", "Sat_uration", "Scales the predicted colour (0 = gray, 1 = as predicted)", 0.0, 4.0, 1.0, flags)
        procedure.add_choice_argument("output", "Out_put", "Where the colour goes", _choice(OUTPUTS), "replace", flags)
        procedure.add_choice_argument("device", "_Device", "Where tinct computes", _choice(DEVICES), "auto", flags)
        return procedure


Gimp.main(TinctColorize.__gtype__, sys.argv)
