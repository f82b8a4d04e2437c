"""The GIMP 3 plug-in inside real GIMP (Debian trixie's gimp 3.0 in the cached host root).

One headless GIMP start runs every scenario (``hosts/gimp_scenarios.py``) through the PDB
on real photographs made gray; the tests below judge the pixels it dumped. The plug-in is
installed with ``install_plugin("gimp")`` into the default user folder of a fresh home,
so GIMP finding it there is part of what is tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from skimage.color import deltaE_ciede2000, rgb2gray, rgb2lab
from skimage.transform import resize

from colour_checks import EIGHT_BIT_LIGHTNESS_TOLERANCE, HIGH_PRECISION_LIGHTNESS_TOLERANCE, assert_coloured_with_same_lightness
from crashing_worker import CRASH_MESSAGE, make_crashing_python
from hosts.host_root import HostRootUnavailable, ensure_host_root, run_in_host_root

import tinct
from tinct.plugin_install import install_plugin

pytestmark = pytest.mark.host

SCENARIOS = Path(__file__).with_name("hosts") / "gimp_scenarios.py"
PROCEDURE = "plug-in-tinct-colorize"
SIDE = 256
# Mean CIEDE2000, within two pixels of a hint dot, between the result and the hint's chroma at
# the result's lightness (the same colour, as far as lightness allows); the hint-free result
# is at least twice as far from it. Far from the dot (a third of the image), the result is
# tinct's own for that hint layer (`Colorizer.colorize` in this process) to within the
# layer's rounding: 2.3 is a just-noticeable difference.
HINT_NEAR_DELTA_E = 6.0
HINT_API_DELTA_E = 1.0
GIMP_TIMEOUT_SECONDS = 1200
FLOAT_RGBA = "R'G'B'A float"
DUMP_DTYPES = {"float": np.float32, "u8": np.uint8, "u16": np.uint16}
SELECTIONS = {
    "rectangle-selection": [["rectangle", "REPLACE", 64, 48, 128, 112]],
    # Antialiased: its edge is partly selected, and its bounding box holds unselected pixels.
    "ellipse-selection": [["ellipse", "REPLACE", 40, 56, 176, 144]],
}


def gray_square(name: str) -> np.ndarray:
    """A skimage photograph, centre-cropped square, made gray: float32 ``(SIDE, SIDE)`` in [0, 1]."""
    rgb = getattr(skimage.data, name)()
    side = min(rgb.shape[:2])
    top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    gray = rgb2gray(rgb[top : top + side, left : left + side])
    return resize(gray, (SIDE, SIDE), anti_aliasing=True).astype(np.float32)


def alpha_pattern() -> np.ndarray:
    """Opacity ramping 0 → 1 left to right, with a fully transparent square: float32 ``(SIDE, SIDE)``."""
    alpha = np.tile(np.linspace(0.0, 1.0, SIDE, dtype=np.float32), (SIDE, 1))
    alpha[16:80, 160:224] = 0.0
    return alpha


def scenario(name: str, photo: str, **spec: Any) -> dict[str, Any]:
    """A scenario for ``gimp_scenarios.py``: an 8-bit RGB layer, whole, unless ``spec`` says otherwise."""
    return {
        "name": name,
        "photo": photo,
        "channels": "rgb",
        "base_type": "RGB",
        "precision": "U8_NON_LINEAR",
        "layer_type": "RGB_IMAGE",
        "indexed": False,
        "selection": None,
        "config": "working",
        "arguments": {"working-size": SIDE},
        "dump_formats": {"float": FLOAT_RGBA, "u8": "R'G'B'A u8"},
        "hints": False,
        **spec,
    }


def hint_samples(photo: str) -> np.ndarray:
    """The hint layer for ``photo``: transparent but for its dot in :data:`HINT_RGB`, float32 ``(SIDE, SIDE, 4)``."""
    x, y, radius = HINT_DOTS[photo]
    rows, columns = np.mgrid[:SIDE, :SIDE]
    layer = np.zeros((SIDE, SIDE, 4), np.float32)
    layer[(rows - y) ** 2 + (columns - x) ** 2 <= radius**2] = (*HINT_RGB, 1.0)
    return layer


PLAN = [
    scenario("replace", "astronaut"),
    scenario("rectangle-selection", "coffee", selection=SELECTIONS["rectangle-selection"]),
    scenario("ellipse-selection", "astronaut", selection=SELECTIONS["ellipse-selection"]),
    scenario("alpha", "chelsea", channels="rgba", layer_type="RGBA_IMAGE"),
    scenario("sixteen-bit", "coffee", precision="U16_NON_LINEAR", dump_formats={"float": FLOAT_RGBA, "u16": "R'G'B'A u16"}),
    scenario("float-linear", "chelsea", precision="FLOAT_LINEAR", dump_formats={"float": FLOAT_RGBA}),
    scenario("u32-linear", "astronaut", precision="U32_LINEAR", dump_formats={"float": FLOAT_RGBA}),
    scenario("grayscale-mode", "astronaut", channels="gray", base_type="GRAY", layer_type="GRAY_IMAGE"),
    scenario("new-layer", "coffee", arguments={"working-size": SIDE, "output": "new-layer"}),
    scenario("crashing-worker", "astronaut", channels="gray", base_type="GRAY", layer_type="GRAY_IMAGE", config="crashing"),
    scenario("missing-model", "chelsea", config="missing-model"),
    scenario("indexed", "coffee", indexed=True),
    # Hints: the same photos and precisions as "replace", "sixteen-bit" and "float-linear", plus a dot of colour.
    scenario("hints", "astronaut", hints=True),
    scenario("hints-sixteen-bit", "coffee", precision="U16_NON_LINEAR", hints=True),
    scenario("hints-float", "chelsea", precision="FLOAT_LINEAR", hints=True),
    scenario("hints-selection", "coffee", selection=SELECTIONS["rectangle-selection"], hints=True),
]
HINT_SCENARIOS = {"hints": "replace", "hints-sixteen-bit": "sixteen-bit", "hints-float": "float-linear", "hints-selection": "rectangle-selection"}
# One dot of a saturated blue on a mid-gray part of each photo (inside the rectangle
# selection for the coffee cup): centre (x, y) and radius, in pixels.
HINT_DOTS = {"astronaut": (60, 180, 3), "coffee": (120, 100, 3), "chelsea": (120, 100, 3)}
HINT_RGB = (0.15, 0.35, 0.85)
INPUT_FORMATS = {"rgb": "R'G'B' float", "rgba": "R'G'B'A float", "gray": "Y' float"}


def input_samples(photo: str, channels: str) -> np.ndarray:
    gray = gray_square(photo)
    if channels == "gray":
        return gray
    rgb = np.repeat(gray[..., None], 3, axis=2)
    return np.dstack([rgb, alpha_pattern()]) if channels == "rgba" else rgb


@dataclass(frozen=True)
class GimpRun:
    """What the GIMP run left: the procedure's registration and each scenario's outcome."""

    results: dict[str, Any]

    def outcome(self, name: str) -> dict[str, Any]:
        outcome = self.results[name]
        assert "exception" not in outcome, outcome.get("exception")
        return outcome

    def colorized(self, name: str, key: str = "float") -> tuple[np.ndarray, np.ndarray]:
        """A successful one-layer scenario's layer before and after, as samples of ``key``."""
        outcome = self.outcome(name)
        assert outcome["status"] == "success", outcome["error"]
        [before], [after] = outcome["before"], outcome["after"]
        return layer_pixels(before, key), layer_pixels(after, key)


def layer_pixels(dump: dict[str, Any], key: str) -> np.ndarray:
    """One dumped layer as ``(SIDE, SIDE, 4)`` samples of the dump format ``key``."""
    return np.fromfile(dump["files"][key], dtype=DUMP_DTYPES[key]).reshape(SIDE, SIDE, 4)


def run_gimp(work: Path, plan: list[dict[str, Any]], model: Path, *, link: bool) -> GimpRun:
    """Install the plug-in into a fresh home in ``work``, run ``plan`` with ``model`` in one GIMP start."""
    home, out, inputs = work / "home", work / "out", work / "inputs"
    for folder in (home, out, inputs):
        folder.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.delenv("XDG_CONFIG_HOME", raising=False)
        patch.delenv("GIMP3_DIRECTORY", raising=False)
        installed = install_plugin("gimp", link=link)
    config_path = installed / "tinct-plugin.json"
    installed_config = json.loads(config_path.read_text())
    configs = {
        "working": {**installed_config, "model": str(model)},
        "crashing": {"python": str(make_crashing_python(work)), "model": str(model)},
        "missing-model": {**installed_config, "model": str(work / "no-such-model.safetensors")},
    }
    scenarios = []
    for spec in plan:
        path = inputs / f"{spec['name']}.raw"
        input_samples(spec["photo"], spec["channels"]).tofile(path)
        hints = None
        if spec["hints"]:
            hints = inputs / f"{spec['name']}-hints.raw"
            hint_samples(spec["photo"]).tofile(hints)
        scenarios.append(
            {**spec, "input": str(path), "hints": hints and str(hints), "input_format": INPUT_FORMATS[spec["channels"]], "width": SIDE, "height": SIDE}
        )
    plan_path = work / "plan.json"
    plan_path.write_text(
        json.dumps({"out": str(out), "procedure": PROCEDURE, "config_path": str(config_path), "configs": configs, "scenarios": scenarios})
    )
    batch = f"import runpy; runpy.run_path({str(SCENARIOS)!r}, {{'PLAN': {str(plan_path)!r}}})"
    gimp_run = run_in_host_root(
        ["gimp-console-3.0", "-i", "--batch-interpreter=python-fu-eval", "-b", batch, "--quit"],
        env={"HOME": str(home)},
        binds=[work, model.parent],
        timeout=GIMP_TIMEOUT_SECONDS,
    )
    results_path = out / "results.json"
    if not results_path.is_file():
        pytest.fail(f"GIMP did not finish the scenarios (exit status {gimp_run.returncode}):\n{gimp_run.stderr[-4000:]}")
    return GimpRun(json.loads(results_path.read_text()))


@pytest.fixture(scope="module")
def host_root() -> None:
    try:
        ensure_host_root()
    except HostRootUnavailable as error:
        pytest.skip(f"no GIMP host root: {error}")


@pytest.fixture(scope="module")
def gimp(host_root: None, tmp_path_factory: pytest.TempPathFactory, untrained_model_file: Path) -> GimpRun:
    """Every scenario, with the plug-in copied into GIMP's user plug-in folder."""
    return run_gimp(tmp_path_factory.mktemp("gimp"), PLAN, untrained_model_file, link=False)


@pytest.fixture(scope="module")
def linked_gimp(host_root: None, tmp_path_factory: pytest.TempPathFactory, untrained_model_file: Path) -> GimpRun:
    """One colorization, with the plug-in linked (``--link``) into GIMP's user plug-in folder."""
    return run_gimp(tmp_path_factory.mktemp("gimp-linked"), [scenario("replace", "astronaut")], untrained_model_file, link=True)


def test_installed_plugin_is_in_filters_enhance_menu(gimp: GimpRun) -> None:
    menu = gimp.results["menu"]
    assert menu["registered"], "GIMP did not register plug-in-tinct-colorize from the user plug-in folder"
    assert menu["menu_label"].replace("_", "") == "Colorize Photo (tinct)…"
    assert menu["menu_paths"] == ["<Image>/Filters/Enhance"]
    assert {"working-size", "saturation", "output", "device", "hints-layer"} <= set(menu["arguments"])


def test_dialog_mnemonics_are_distinct_and_clear_of_gimps_own(gimp: GimpRun) -> None:
    """GIMP's procedure dialog has _Help, _Reset, _Cancel, _OK and Save Settings (Alt+S)."""
    nicks = gimp.results["menu"]["nicks"]
    keys = [nicks[name][nicks[name].index("_") + 1].lower() for name in ("hints-layer", "working-size", "saturation", "output", "device")]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & set("hrcos")


def test_linked_install_works_too(linked_gimp: GimpRun) -> None:
    assert linked_gimp.results["menu"]["registered"]
    assert_coloured_with_same_lightness(*linked_gimp.colorized("replace"), EIGHT_BIT_LIGHTNESS_TOLERANCE)


@pytest.mark.parametrize(
    ("name", "tolerance"),
    [
        ("replace", EIGHT_BIT_LIGHTNESS_TOLERANCE),
        ("sixteen-bit", HIGH_PRECISION_LIGHTNESS_TOLERANCE),  # finer than 8-bit rounding allows
        ("float-linear", HIGH_PRECISION_LIGHTNESS_TOLERANCE),
        ("u32-linear", HIGH_PRECISION_LIGHTNESS_TOLERANCE),
    ],
)
def test_layer_is_coloured_with_lightness_unchanged(gimp: GimpRun, name: str, tolerance: float) -> None:
    assert_coloured_with_same_lightness(*gimp.colorized(name), tolerance)


def test_sixteen_bit_image_keeps_more_than_eight_bits(gimp: GimpRun) -> None:
    before, after = gimp.colorized("sixteen-bit", "u16")
    eight_bit_levels = np.arange(256, dtype=np.uint16) * 257
    assert not np.isin(before[..., :3], eight_bit_levels).all(), "the input should use 16-bit levels"
    assert np.isin(after[..., :3], eight_bit_levels).mean() < 0.1


@pytest.mark.parametrize("name", list(SELECTIONS))
def test_selection_leaves_unselected_pixels_byte_identical(gimp: GimpRun, name: str) -> None:
    mask = np.fromfile(gimp.outcome(name)["selection"], dtype=np.float32).reshape(SIDE, SIDE)
    unselected, selected = mask == 0.0, mask == 1.0
    assert unselected.any() and selected.any()
    before_bytes, after_bytes = gimp.colorized(name, "u8")
    np.testing.assert_array_equal(after_bytes[unselected], before_bytes[unselected])
    before, after = gimp.colorized(name)
    assert_coloured_with_same_lightness(before[selected], after[selected], EIGHT_BIT_LIGHTNESS_TOLERANCE)


def test_alpha_is_unchanged(gimp: GimpRun) -> None:
    before_bytes, after_bytes = gimp.colorized("alpha", "u8")
    np.testing.assert_array_equal(before_bytes[..., 3], np.rint(alpha_pattern() * 255).astype(np.uint8))
    np.testing.assert_array_equal(after_bytes[..., 3], before_bytes[..., 3])
    before, after = gimp.colorized("alpha")
    opaque = before[..., 3] > 0.5
    assert_coloured_with_same_lightness(before[opaque], after[opaque], EIGHT_BIT_LIGHTNESS_TOLERANCE)


def test_grayscale_mode_image_becomes_rgb_and_coloured(gimp: GimpRun) -> None:
    assert gimp.outcome("grayscale-mode")["base_type"] == "RGB"
    assert_coloured_with_same_lightness(*gimp.colorized("grayscale-mode"), EIGHT_BIT_LIGHTNESS_TOLERANCE)


def test_new_layer_output_goes_above_and_leaves_the_original(gimp: GimpRun) -> None:
    outcome = gimp.outcome("new-layer")
    assert outcome["status"] == "success"
    [before] = outcome["before"]
    new, original = outcome["after"]
    assert (new["name"], original["name"]) == ("new-layer (tinct)", "new-layer")
    np.testing.assert_array_equal(layer_pixels(original, "u8"), layer_pixels(before, "u8"))
    assert_coloured_with_same_lightness(layer_pixels(before, "float"), layer_pixels(new, "float"), EIGHT_BIT_LIGHTNESS_TOLERANCE)


def lab_of(samples: np.ndarray) -> np.ndarray:
    return rgb2lab(np.clip(samples[..., :3], 0.0, 1.0).astype(np.float64))


@pytest.fixture(scope="module")
def colorizer(untrained_model_file: Path) -> tinct.Colorizer:
    """The model the GIMP runs use, in this process."""
    return tinct.load_model(untrained_model_file, device="cpu")


@pytest.mark.parametrize("name", list(HINT_SCENARIOS))
def test_hint_layer_steers_the_colour_and_stays_as_painted(gimp: GimpRun, colorizer: tinct.Colorizer, name: str) -> None:
    outcome = gimp.outcome(name)
    assert outcome["status"] == "success", outcome["error"]
    (hints_before, photo_before), (hints_after, photo_after) = outcome["before"], outcome["after"]
    assert hints_before["name"] == hints_after["name"] == "tinct hints"
    np.testing.assert_array_equal(layer_pixels(hints_after, "float"), layer_pixels(hints_before, "float"))
    assert hints_before["visible"] and not hints_after["visible"], "the hint layer is hidden so the result shows"
    before, after = layer_pixels(photo_before, "float"), layer_pixels(photo_after, "float")
    _, hint_free = gimp.colorized(HINT_SCENARIOS[name])
    tolerance = EIGHT_BIT_LIGHTNESS_TOLERANCE if "u8" in photo_before["files"] else HIGH_PRECISION_LIGHTNESS_TOLERANCE
    assert np.abs(lab_of(after)[..., 0] - lab_of(before)[..., 0]).max() < tolerance
    photo = next(spec["photo"] for spec in PLAN if spec["name"] == name)
    x, y, radius = HINT_DOTS[photo]
    rows, columns = np.mgrid[:SIDE, :SIDE]
    distance = np.hypot(rows - y, columns - x)
    near, far = distance <= radius + 2, distance > SIDE / 3
    result, plain = lab_of(after), lab_of(hint_free)
    # The hint's chroma at the result's own lightness.
    target = np.column_stack([result[near][:, 0], np.broadcast_to(rgb2lab(np.array(HINT_RGB))[1:], (near.sum(), 2))])
    assert deltaE_ciede2000(result[near], target).mean() < HINT_NEAR_DELTA_E
    assert deltaE_ciede2000(plain[near], target).mean() > 2 * HINT_NEAR_DELTA_E, "the hint-free result should not already have that colour"
    if outcome["selection"]:
        mask = np.fromfile(outcome["selection"], dtype=np.float32).reshape(SIDE, SIDE)
        np.testing.assert_array_equal(layer_pixels(photo_after, "u8")[mask == 0.0], layer_pixels(photo_before, "u8")[mask == 0.0])
    else:  # the whole layer went to tinct: the result far from the dot is tinct's own for that hint layer
        expected = lab_of(colorizer.colorize(before[..., :3].copy(), working_size=SIDE, hints=hint_samples(photo)))
        assert deltaE_ciede2000(result[far], expected[far]).mean() < HINT_API_DELTA_E


def failed_without_change(outcome: dict[str, Any]) -> str:
    """A failed scenario's error message, after checking its layer was left as it was."""
    assert outcome["status"] == "execution-error"
    [before], [after] = outcome["before"], outcome["after"]
    np.testing.assert_array_equal(layer_pixels(after, "u8"), layer_pixels(before, "u8"))
    return outcome["error"]


def test_crashing_worker_is_an_execution_error_and_changes_nothing(gimp: GimpRun) -> None:
    outcome = gimp.outcome("crashing-worker")
    error = failed_without_change(outcome)
    assert "crashed" in error and CRASH_MESSAGE in error
    assert outcome["base_type"] == "GRAY", "a failed run must not convert the image to RGB"


def test_missing_model_is_an_execution_error_naming_it(gimp: GimpRun) -> None:
    assert "no-such-model.safetensors" in failed_without_change(gimp.outcome("missing-model"))


def test_indexed_image_is_refused_with_advice(gimp: GimpRun) -> None:
    outcome = gimp.outcome("indexed")
    error = failed_without_change(outcome)
    assert "indexed" in error and "Image ▸ Mode ▸ RGB" in error
    assert outcome["base_type"] == "INDEXED"
