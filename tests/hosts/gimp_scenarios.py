"""Scenarios for the GIMP plug-in test, run inside real GIMP 3 by its Python batch interpreter.

Started as ``gimp-console-3.0 -i --batch-interpreter=python-fu-eval -b
"import runpy; runpy.run_path('<this file>', {'PLAN': '<plan.json>'})" --quit``: GIMP's
Python has no numpy, so this script only builds images, calls the plug-in through the PDB
and dumps pixels; ``tests/test_gimp_plugin.py`` writes the plan and judges the dumps.

Plan (JSON)::

    {"out": dir for dumps and results.json, "procedure": PDB name,
     "config_path": the installed tinct-plugin.json, "configs": {name: its content},
     "scenarios": [{"name", "input" (raw samples file), "input_format" (babl),
                    "width", "height", "base_type", "precision", "layer_type" (Gimp enum
                    member names), "indexed" (convert to indexed before the call),
                    "selection": [[shape ("rectangle" | "ellipse"), Gimp.ChannelOps member,
                    x, y, w, h], ...] | null, "config" (a key of configs),
                    "arguments": {name: value}, "dump_formats": {key: babl format},
                    "hints": raw "R'G'B'A float" samples of a layer named "tinct hints" put
                    above the photo and passed as "hints-layer" | null}]}

results.json maps ``"menu"`` to the procedure's registration and each scenario name to
``{"status", "error", "base_type", "selection" (path of the selection mask as "Y float"
samples, or null), "before": [dumps], "after": [dumps]}``, where a dump is
``{"name": layer name, "visible": bool, "files": {key: path}}`` for each layer, top first;
a scenario that raised records ``{"exception": traceback}`` instead. ``"menu"`` also
holds each argument's nick (its mnemonic) under ``"nicks"``.
"""

import json
import traceback
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402

plan = json.loads(Path(PLAN).read_text())  # noqa: F821 - PLAN comes from runpy's init_globals
out = Path(plan["out"])
pdb = Gimp.get_pdb()


def describe_procedure(name):
    procedure = pdb.lookup_procedure(name)
    if procedure is None:
        return {"registered": False}
    return {
        "registered": True,
        "menu_label": procedure.get_menu_label(),
        "menu_paths": list(procedure.get_menu_paths()),
        "image_types": procedure.get_image_types(),
        "arguments": [spec.name for spec in procedure.get_arguments()],
        "nicks": {spec.name: spec.get_nick() for spec in procedure.get_arguments()},
    }


def build_image(scenario):
    width, height = scenario["width"], scenario["height"]
    image = Gimp.Image.new_with_precision(
        width, height, getattr(Gimp.ImageBaseType, scenario["base_type"]), getattr(Gimp.Precision, scenario["precision"])
    )
    layer_type = getattr(Gimp.ImageType, scenario["layer_type"])
    layer = Gimp.Layer.new(image, scenario["name"], width, height, layer_type, 100, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), scenario["input_format"], Path(scenario["input"]).read_bytes())
    buffer.flush()
    if scenario["indexed"]:
        image.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 256, False, False, "")
    for shape, operation, *bounds in scenario["selection"] or ():
        select = image.select_rectangle if shape == "rectangle" else image.select_ellipse
        select(getattr(Gimp.ChannelOps, operation), *bounds)
    hints = None
    if scenario.get("hints"):
        hints = Gimp.Layer.new(image, "tinct hints", width, height, Gimp.ImageType.RGBA_IMAGE, 100, Gimp.LayerMode.NORMAL)
        image.insert_layer(hints, None, 0)
        hints_buffer = hints.get_buffer()
        hints_buffer.set(Gegl.Rectangle.new(0, 0, width, height), "R'G'B'A float", Path(scenario["hints"]).read_bytes())
        hints_buffer.flush()
    return image, layer, hints


def dump_selection(image, scenario):
    if not scenario["selection"]:
        return None
    path = out / f"{scenario['name']}-selection.raw"
    rectangle = Gegl.Rectangle.new(0, 0, image.get_width(), image.get_height())
    path.write_bytes(image.get_selection().get_buffer().get(rectangle, 1.0, "Y float", Gegl.AbyssPolicy.NONE))
    return str(path)


def dump_layers(image, scenario, stage):
    dumps = []
    for index, layer in enumerate(image.get_layers()):
        rectangle = Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height())
        files = {}
        for key, babl_format in scenario["dump_formats"].items():
            path = out / f"{scenario['name']}-{stage}-{index}-{key}.raw"
            path.write_bytes(layer.get_buffer().get(rectangle, 1.0, babl_format, Gegl.AbyssPolicy.NONE))
            files[key] = str(path)
        dumps.append({"name": layer.get_name(), "visible": layer.get_visible(), "files": files})
    return dumps


def run_scenario(procedure, scenario):
    Path(plan["config_path"]).write_text(json.dumps(plan["configs"][scenario["config"]]))
    image, layer, hints = build_image(scenario)
    before = dump_layers(image, scenario, "before")
    config = procedure.create_config()
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    config.set_property("hints-layer", hints)
    for name, value in scenario["arguments"].items():
        config.set_property(name, value)
    status = procedure.run(config).index(0)
    return {
        "status": status.value_nick,
        "error": pdb.get_last_error() if status != Gimp.PDBStatusType.SUCCESS else None,
        "base_type": image.get_base_type().value_name.removeprefix("GIMP_"),
        "selection": dump_selection(image, scenario),
        "before": before,
        "after": dump_layers(image, scenario, "after"),
    }


results = {"menu": describe_procedure(plan["procedure"])}
if results["menu"]["registered"]:
    procedure = pdb.lookup_procedure(plan["procedure"])
    for scenario in plan["scenarios"]:
        try:
            results[scenario["name"]] = run_scenario(procedure, scenario)
        except Exception:
            results[scenario["name"]] = {"exception": traceback.format_exc()}
(out / "results.json").write_text(json.dumps(results, indent=1))
