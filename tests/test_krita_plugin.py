"""The Krita plugin, run inside real Krita 5.2 (Debian trixie's, in the cached host root).

One ``kritarunner`` session (``tests/hosts/krita_scenarios.py``) plays every scenario
through the plugin's own code path, as ``tinct install-plugin krita`` installed it, with
a real (untrained, seed 0) tinct model; the photograph is scikit-image's astronaut made
gray. This side prepares each document's raw pixels and decodes what Krita wrote back with
its own numpy code, so nothing the plugin computes is trusted here. One more Krita start,
as a user runs it (the plugin enabled by ``tinct install-plugin krita --enable``), finds
the action under Tools ▸ Scripts and plays cases through it and its dialogs with a probe
plugin: colorizing, undoing it with Krita's Undo, declining and cancelling.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from skimage import color, data, io, transform

from colour_checks import EIGHT_BIT_LIGHTNESS_TOLERANCE, GRAY_MAX_CHROMA, assert_coloured_with_same_lightness, lab, mean_chroma
from crashing_worker import CRASH_MESSAGE, make_crashing_python
from hosts.host_root import REPO_ROOT, HostRootUnavailable, run_in_host_root

import tinct
from tinct.plugin_install import install_plugin

pytestmark = pytest.mark.host

SIZE = 256
PARTLY_SELECTED = 128
# Rectangles ``(x, y, width, height, how selected)``: one fully, one partly selected.
SELECTION = ((48, 64, 128, 96, 255), (192, 160, 40, 48, PARTLY_SELECTED))
# sRGB (IEC 61966-2-1) transfer curve.
SRGB_LINEAR_THRESHOLD = 0.04045
SRGB_ENCODED_THRESHOLD = 0.0031308
SRGB_SLOPE = 12.92
SRGB_GAMMA = 2.4
SRGB_OFFSET = 0.055
SRGB_TRC = "sRGB-elle-V2-srgbtrc.icc"
LINEAR_SRGB = "sRGB-elle-V2-g10.icc"
LINEAR_GRAY = "Gray-D50-elle-V2-g10.icc"
# |ΔL*| allowed between input and output. Rounding to 8 bits moves L* by up to 0.26 (see
# colour_checks), which 16-bit and float layers must stay well below. Krita's colour
# engine, through which every layer is converted to and from float sRGB, has an ICC v2
# sRGB profile whose tone curve is sampled: it costs up to about 0.03 L* in dark tones
# (GIMP's exact curves reach 0.002), hence this bound for them.
LIGHTNESS_TOLERANCE = {"U8": EIGHT_BIT_LIGHTNESS_TOLERANCE, "U16": 0.05, "F16": 0.05, "F32": 0.05}
# Depth → (numpy sample type, channel order of Krita's pixel data).
LAYOUTS = {
    "U8": (np.dtype("u1"), (2, 1, 0, 3)),
    "U16": (np.dtype("<u2"), (2, 1, 0, 3)),
    "F16": (np.dtype("<f2"), (0, 1, 2, 3)),
    "F32": (np.dtype("<f4"), (0, 1, 2, 3)),
}
PROFILES = {"U8": SRGB_TRC, "U16": LINEAR_SRGB, "F16": LINEAR_SRGB, "F32": LINEAR_SRGB}
# One dot of a saturated blue on the hints layer, on a mid-gray part of the photograph
# inside the fully selected rectangle: centre and radius.
HINT_DOT = (150, 150, 3)
HINT_RGB = (0.15, 0.35, 0.85)
# As in the GIMP test: mean CIEDE2000 near the dot to the hint's chroma; far from it, to
# tinct's own result for that hint layer (`Colorizer.colorize` in this process).
HINT_NEAR_DELTA_E = 6.0
HINT_API_DELTA_E = 1.0
# Hinted scenario → its hint-free twin.
HINT_SCENARIOS = {"hints_U8": "new_U8", "hints_U16": "new_U16", "hints_F32": "new_F32", "hints_replace_selection": "replace_selection"}


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    return np.where(encoded <= SRGB_LINEAR_THRESHOLD, encoded / SRGB_SLOPE, ((encoded + SRGB_OFFSET) / (1 + SRGB_OFFSET)) ** SRGB_GAMMA)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, None)
    return np.where(linear <= SRGB_ENCODED_THRESHOLD, linear * SRGB_SLOPE, (1 + SRGB_OFFSET) * linear ** (1 / SRGB_GAMMA) - SRGB_OFFSET)


def encode_layer(rgba: np.ndarray, depth: str, profile: str) -> bytes:
    """Krita's raw pixel bytes for sRGB-encoded RGBA floats ``(H, W, 4)`` in [0, 1]."""
    dtype, order = LAYOUTS[depth]
    values = rgba.astype(np.float64).copy()
    if profile == LINEAR_SRGB:
        values[..., :3] = srgb_to_linear(values[..., :3])
    if dtype.kind == "u":
        values = np.round(values * np.iinfo(dtype).max)
    return np.ascontiguousarray(values[..., order], dtype=dtype).tobytes()


def decode_layer(raw: bytes, depth: str, profile: str) -> np.ndarray:
    """sRGB-encoded RGBA float64 ``(H, W, 4)`` from Krita's raw pixel bytes."""
    dtype, order = LAYOUTS[depth]
    samples = np.frombuffer(raw, dtype).reshape(SIZE, SIZE, 4)[..., np.argsort(order)].astype(np.float64)
    if dtype.kind == "u":
        samples /= np.iinfo(dtype).max
    if profile == LINEAR_SRGB:
        samples[..., :3] = linear_to_srgb(samples[..., :3])
    return samples


def alpha_samples(raw: bytes, depth: str) -> np.ndarray:
    """The raw alpha samples of Krita pixel bytes, bit for bit."""
    dtype, order = LAYOUTS[depth]
    return np.frombuffer(raw, dtype).reshape(SIZE, SIZE, 4)[..., order.index(3)]


def gray_photograph() -> np.ndarray:
    """The astronaut, gray, at 256×256: anti-aliased, so its levels are not on the 8-bit grid."""
    gray = color.rgb2gray(data.astronaut())
    return transform.resize(gray, (SIZE, SIZE), anti_aliasing=True)


def straight_alpha() -> np.ndarray:
    """Alpha falling from opaque on the left to 0.3 on the right."""
    return np.broadcast_to(np.linspace(1.0, 0.3, SIZE), (SIZE, SIZE))


def scenario(name: str, depth: str, folder: Path, rgba: np.ndarray, **extra: object) -> dict:
    pixels = folder / f"{name}.input.bin"
    pixels.write_bytes(encode_layer(rgba, depth, PROFILES[depth]))
    return {"name": name, "width": SIZE, "height": SIZE, "model": "RGBA", "depth": depth, "profile": PROFILES[depth], "pixels": str(pixels), **extra}


def hint_layer_rgba() -> np.ndarray:
    """The hints layer: transparent but for :data:`HINT_DOT` in :data:`HINT_RGB`."""
    x, y, radius = HINT_DOT
    rows, columns = np.mgrid[:SIZE, :SIZE]
    rgba = np.zeros((SIZE, SIZE, 4))
    rgba[(rows - y) ** 2 + (columns - x) ** 2 <= radius**2] = (*HINT_RGB, 1.0)
    return rgba


def with_hints(record: dict, depth: str, folder: Path) -> dict:
    hints = folder / f"{record['name']}.hints.bin"
    hints.write_bytes(encode_layer(hint_layer_rgba(), depth, PROFILES[depth]))
    return {**record, "hints": str(hints)}


def krita_env(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "XDG_RUNTIME_DIR": str(home / "runtime"), **extra}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("krita")
    (folder / "home" / "runtime").mkdir(parents=True, mode=0o700)
    return folder


@pytest.fixture(scope="module")
def photograph() -> np.ndarray:
    gray = gray_photograph()
    return np.dstack([gray, gray, gray, straight_alpha()])


@pytest.fixture(scope="module")
def results(workspace: Path, photograph: np.ndarray, untrained_model_file: Path) -> dict[str, dict]:
    """Play every scenario in one Krita session; the recorded outcome of each, by name."""
    pykrita = install_plugin("krita", dest=workspace / "pykrita").parent
    crash = make_crashing_python(workspace)
    gray_pixels = workspace / "gray.input.bin"
    gray_linear = srgb_to_linear(photograph[..., 0])
    gray_pixels.write_bytes(np.round(np.dstack([gray_linear, photograph[..., 3]]) * np.iinfo(np.uint16).max).astype("<u2").tobytes())
    new_layer = {"working_size": SIZE}
    scenarios = [
        *(scenario(f"new_{depth}", depth, workspace, photograph, options=new_layer) for depth in LAYOUTS),
        scenario("replace_selection", "U16", workspace, photograph, options={"working_size": SIZE, "output": "replace"}, selection=SELECTION),
        scenario("new_layer_selection", "F32", workspace, photograph, options=new_layer, selection=SELECTION),
        {"name": "grayscale", "width": SIZE, "height": SIZE, "model": "GRAYA", "depth": "U16", "profile": LINEAR_GRAY, "pixels": str(gray_pixels), "options": new_layer, "convert": True},
        {"name": "lab", "width": SIZE, "height": SIZE, "model": "LABA", "depth": "U16", "profile": "", "options": new_layer},
        scenario("crashing_worker", "U8", workspace, photograph, options=new_layer, env={"TINCT_PYTHON": str(crash)}),
        scenario("no_tinct", "U8", workspace, photograph, options=new_layer, env={"TINCT_PYTHON": "/usr/bin/python3"}),
        scenario("missing_model", "U8", workspace, photograph, options=new_layer, env={"TINCT_MODEL": str(workspace / "missing.safetensors")}),
        scenario("cancelled", "U16", workspace, photograph, options=new_layer, cancel=True),
        *(with_hints(scenario(f"hints_{depth}", depth, workspace, photograph, options=new_layer), depth, workspace) for depth in ("U8", "U16", "F32")),
        with_hints(
            scenario("hints_replace_selection", "U16", workspace, photograph, options={"working_size": SIZE, "output": "replace"}, selection=SELECTION),
            "U16",
            workspace,
        ),
    ]
    scenarios_file = workspace / "scenarios.json"
    scenarios_file.write_text(json.dumps({"scenarios": scenarios}))
    env = krita_env(
        workspace / "home",
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=f"{pykrita}:{REPO_ROOT / 'tests' / 'hosts'}",
        PYTHONDONTWRITEBYTECODE="1",  # Krita's Python 3.13 would leave caches in the checkout
        TINCT_MODEL=str(untrained_model_file),
        TINCT_KRITA_SCENARIOS=str(scenarios_file),
    )
    try:
        run = run_in_host_root(["kritarunner", "-s", "krita_scenarios", "-f", "run"], env=env, binds=[workspace, untrained_model_file.parent])
    except HostRootUnavailable as reason:
        pytest.skip(str(reason))
    results_file = workspace / "results.json"
    assert results_file.is_file(), f"kritarunner wrote no results (exit {run.returncode}):\n{run.stderr[-4000:]}"
    return json.loads(results_file.read_text())


def layers(record: dict) -> list[dict]:
    """The document's paint layers, bottom to top (a selection adds a selection mask node)."""
    assert record["status"] != "error", record["message"]
    return [layer for layer in record["layers"] if layer["type"] == "paintlayer"]


def assert_unchanged(record: dict, depth: str, photograph: np.ndarray) -> None:
    """The document still has only its one layer, with the input's bytes."""
    (background,) = layers(record)
    assert Path(background["pixels"]).read_bytes() == encode_layer(photograph, depth, PROFILES[depth])


@pytest.mark.parametrize("depth", list(LAYOUTS))
def test_new_layer_is_coloured_with_lightness_alpha_and_original_kept(results: dict, photograph: np.ndarray, depth: str) -> None:
    record = results[f"new_{depth}"]
    assert record["status"] == "done", record.get("message")
    background, coloured = layers(record)
    assert (background["name"], coloured["name"]) == ("Background", "Background (tinct)")
    assert (coloured["model"], coloured["depth"], coloured["profile"]) == ("RGBA", depth, PROFILES[depth])
    original = Path(background["pixels"]).read_bytes()
    assert original == encode_layer(photograph, depth, PROFILES[depth])
    result = Path(coloured["pixels"]).read_bytes()
    before, after = (decode_layer(raw, depth, PROFILES[depth]) for raw in (original, result))
    assert_coloured_with_same_lightness(before, after, LIGHTNESS_TOLERANCE[depth])
    np.testing.assert_array_equal(alpha_samples(result, depth), alpha_samples(original, depth))


@pytest.mark.parametrize("depth", ["U16", "F32"])
def test_high_precision_survives(results: dict, depth: str) -> None:
    (_, coloured) = layers(results[f"new_{depth}"])
    rgb = decode_layer(Path(coloured["pixels"]).read_bytes(), depth, PROFILES[depth])[..., :3]
    steps = rgb[(rgb > 0.0) & (rgb < 1.0)] * np.iinfo(np.uint8).max
    off_grid = np.abs(steps - np.round(steps)) > 0.01
    assert off_grid.mean() > 0.95, "the colour was rounded to 8 bits"
    assert len(np.unique(np.round(rgb[..., 1] * np.iinfo(np.uint16).max))) > 4 * 256


def selection_mask(record: dict) -> np.ndarray:
    """The selection Krita held, checked to be :data:`SELECTION`: uint8 ``(SIZE, SIZE)``."""
    mask = np.frombuffer(Path(record["mask"]).read_bytes(), np.uint8).reshape(SIZE, SIZE)
    expected = np.zeros((SIZE, SIZE), np.uint8)
    for x, y, width, height, value in SELECTION:
        expected[y : y + height, x : x + width] = value
    np.testing.assert_array_equal(mask, expected)
    return mask


def test_replace_changes_only_selected_pixels_and_keeps_alpha(results: dict, photograph: np.ndarray) -> None:
    record = results["replace_selection"]
    assert record["status"] == "done", record.get("message")
    (background,) = layers(record)
    mask = selection_mask(record)
    selected = mask == 255
    before_raw = encode_layer(photograph, "U16", LINEAR_SRGB)
    after_raw = Path(background["pixels"]).read_bytes()
    before, after = (np.frombuffer(raw, "<u2").reshape(SIZE, SIZE, 4) for raw in (before_raw, after_raw))
    np.testing.assert_array_equal(after[mask == 0], before[mask == 0])
    np.testing.assert_array_equal(alpha_samples(after_raw, "U16"), alpha_samples(before_raw, "U16"))
    before, after = (decode_layer(raw, "U16", LINEAR_SRGB) for raw in (before_raw, after_raw))
    assert_coloured_with_same_lightness(before[selected], after[selected], LIGHTNESS_TOLERANCE["U16"])
    assert mean_chroma(after[mask == PARTLY_SELECTED]) > GRAY_MAX_CHROMA  # blended in, partly


def test_new_layer_covers_only_the_selection(results: dict, photograph: np.ndarray) -> None:
    record = results["new_layer_selection"]
    assert record["status"] == "done", record.get("message")
    background, coloured = layers(record)
    mask = selection_mask(record)
    original = Path(background["pixels"]).read_bytes()
    assert original == encode_layer(photograph, "F32", LINEAR_SRGB)
    result = Path(coloured["pixels"]).read_bytes()
    alpha, original_alpha = alpha_samples(result, "F32"), alpha_samples(original, "F32")
    assert np.all(alpha[mask == 0] == 0.0)
    np.testing.assert_array_equal(alpha[mask == 255], original_alpha[mask == 255])
    partly = mask == PARTLY_SELECTED
    np.testing.assert_allclose(alpha[partly], original_alpha[partly] * PARTLY_SELECTED / 255, rtol=1e-6)
    selected = mask == 255
    before, after = (decode_layer(raw, "F32", LINEAR_SRGB)[selected] for raw in (original, result))
    assert_coloured_with_same_lightness(before, after, LIGHTNESS_TOLERANCE["F32"])


@pytest.mark.parametrize("name", list(HINT_SCENARIOS))
def test_hints_layer_steers_the_colour_and_stays_as_painted(results: dict, photograph: np.ndarray, untrained_model_file: Path, name: str) -> None:
    record, twin = results[name], results[HINT_SCENARIOS[name]]
    assert record["status"] == "done", record.get("message")
    depth = record["layers"][0]["depth"]
    paint_layers = layers(record)
    hints = next(layer for layer in paint_layers if layer["name"] == "tinct hints")
    assert Path(hints["pixels"]).read_bytes() == encode_layer(hint_layer_rgba(), depth, PROFILES[depth])
    result_layer = paint_layers[1] if HINT_SCENARIOS[name].startswith("new") else paint_layers[0]
    twin_layer = layers(twin)[-1]
    before = decode_layer(encode_layer(photograph, depth, PROFILES[depth]), depth, PROFILES[depth])
    after, hint_free = (decode_layer(Path(layer["pixels"]).read_bytes(), depth, PROFILES[depth]) for layer in (result_layer, twin_layer))
    # Partly selected pixels mix two colours, which moves L*: judge the others.
    judged = selection_mask(record) != PARTLY_SELECTED if "mask" in record else np.ones((SIZE, SIZE), bool)
    assert np.abs(lab(after)[..., 0] - lab(before)[..., 0])[judged].max() < LIGHTNESS_TOLERANCE[depth]
    x, y, radius = HINT_DOT
    rows, columns = np.mgrid[:SIZE, :SIZE]
    distance = np.hypot(rows - y, columns - x)
    near, far = distance <= radius + 2, distance > SIZE / 3
    result, plain = lab(after), lab(hint_free)
    target = np.column_stack([result[near][:, 0], np.broadcast_to(color.rgb2lab(np.array(HINT_RGB))[1:], (near.sum(), 2))])
    assert color.deltaE_ciede2000(result[near], target).mean() < HINT_NEAR_DELTA_E
    assert color.deltaE_ciede2000(plain[near], target).mean() > 2 * HINT_NEAR_DELTA_E
    if "mask" not in record:  # the whole layer went to tinct: far from the dot, the result is tinct's own
        colorizer = tinct.load_model(untrained_model_file, device="cpu")
        expected = lab(colorizer.colorize(np.clip(before, 0, 1).astype(np.float32), working_size=SIZE, hints=hint_layer_rgba().astype(np.float32)))
        assert color.deltaE_ciede2000(result[far], expected[far]).mean() < HINT_API_DELTA_E
    else:
        mask = selection_mask(record)
        before_raw = np.frombuffer(encode_layer(photograph, depth, PROFILES[depth]), "<u2").reshape(SIZE, SIZE, 4)
        after_raw = np.frombuffer(Path(result_layer["pixels"]).read_bytes(), "<u2").reshape(SIZE, SIZE, 4)
        np.testing.assert_array_equal(after_raw[mask == 0], before_raw[mask == 0])


def test_grayscale_document_is_converted_then_coloured(results: dict, photograph: np.ndarray) -> None:
    record = results["grayscale"]
    assert "Convert it to RGB" in record["offer"]
    assert record["status"] == "done", record.get("message")
    background, coloured = layers(record)
    assert [(layer["model"], layer["depth"], layer["profile"]) for layer in (background, coloured)] == [("RGBA", "U16", LINEAR_SRGB)] * 2
    before, after = (decode_layer(Path(layer["pixels"]).read_bytes(), "U16", LINEAR_SRGB) for layer in (background, coloured))
    np.testing.assert_allclose(before[..., 0], photograph[..., 0], atol=1e-3)
    assert_coloured_with_same_lightness(before, after, LIGHTNESS_TOLERANCE["U16"])


def test_other_colour_models_are_refused_with_advice(results: dict) -> None:
    record = results["lab"]
    assert record["status"] == "refused"
    assert "LABA" in record["message"] and "Convert Image Color Space" in record["message"]
    assert len(layers(record)) == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("crashing_worker", CRASH_MESSAGE),
        ("no_tinct", "No module named 'tinct'"),
        ("missing_model", "missing.safetensors"),
    ],
)
def test_failing_worker_reports_and_leaves_document_unchanged(results: dict, photograph: np.ndarray, name: str, expected: str) -> None:
    record = results[name]
    assert record["status"] == "failed"
    assert expected in record["message"]
    assert_unchanged(record, "U8", photograph)


def test_cancel_leaves_document_unchanged(results: dict, photograph: np.ndarray) -> None:
    record = results["cancelled"]
    assert record["status"] == "cancelled"
    assert_unchanged(record, "U16", photograph)


# The kritarc a user may have: tinct's plugin switched off in the Python Plugin Manager
# (``install-plugin krita --enable`` must switch it on), the probe on, a working size saved.
GUI_KRITARC = f"[python]\nenable_tinct_colorize=false\nenable_tinct_probe=true\n\n[tinct_colorize]\nworking_size={SIZE}\n"
# The cases the probe plays, in this order, in one Krita session (see tests/hosts/krita_probe).
# The progress Cancel stops the worker, so it comes last.
GUI_CASES = [
    {"name": "new_layer", "model": "RGBA", "depth": "U8", "pixels": "rgba.bin", "output": "new_layer", "export": True, "undo": True},
    {"name": "replace", "model": "RGBA", "depth": "U8", "pixels": "rgba.bin", "output": "replace", "undo": True},
    {"name": "grayscale", "model": "GRAYA", "depth": "U8", "pixels": "graya.bin", "convert": "yes", "undo": True},
    {"name": "grayscale_declined", "model": "GRAYA", "depth": "U8", "pixels": "graya.bin", "convert": "no"},
    {"name": "grayscale_options_cancelled", "model": "GRAYA", "depth": "U8", "pixels": "graya.bin", "convert": "yes", "options": "cancel"},
    {"name": "progress_cancelled", "model": "RGBA", "depth": "U8", "pixels": "rgba.bin", "progress": "cancel"},
]


@pytest.fixture(scope="module")
def gui(workspace: Path, photograph: np.ndarray, untrained_model_file: Path) -> dict:
    """Krita as a user runs it, once: the plugin installed and enabled by ``tinct install-plugin
    krita --enable``, a probe plugin playing :data:`GUI_CASES` through its action and dialogs.

    Returns the probe's record (``"probe"``), the kritarc as ``--enable`` left it
    (``"kritarc"``) and the folder of the probe's files (``"folder"``).
    """
    from tinct.cli import main

    home = workspace / "gui-home"
    config, data_home = home / ".config", home / ".local" / "share"
    config.mkdir(parents=True)
    (config / "kritarc").write_text(GUI_KRITARC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(config))
        patch.setenv("XDG_DATA_HOME", str(data_home))
        assert main(["install-plugin", "krita", "--enable"]) == 0
    kritarc = (config / "kritarc").read_text()
    pykrita = data_home / "krita" / "pykrita"
    probe = REPO_ROOT / "tests" / "hosts" / "krita_probe"
    shutil.copytree(probe / "tinct_probe", pykrita / "tinct_probe")
    shutil.copy(probe / "tinct_probe.desktop", pykrita)
    (home / "runtime").mkdir(mode=0o700)
    folder = workspace / "gui"
    folder.mkdir()
    opaque = np.dstack([photograph[..., :3], np.ones((SIZE, SIZE))])  # so the exported composite is the new layer
    (folder / "rgba.bin").write_bytes(encode_layer(opaque, "U8", SRGB_TRC))
    (folder / "graya.bin").write_bytes(gray_u8_layer(photograph))
    (folder / "cases.json").write_text(json.dumps(GUI_CASES))
    env = krita_env(home, TINCT_MODEL=str(untrained_model_file), TINCT_KRITA_PROBE=str(folder))
    try:
        run = run_in_host_root(["xvfb-run", "--auto-servernum", "krita", "--nosplash"], env=env, binds=[workspace, untrained_model_file.parent])
    except HostRootUnavailable as reason:
        pytest.skip(str(reason))
    probe_file = folder / "probe.json"
    assert probe_file.is_file(), f"Krita quit without the probe's record (exit {run.returncode}):\n{run.stderr[-4000:]}"
    record = json.loads(probe_file.read_text())
    assert "error" not in record, record["error"]
    return {"probe": record, "kritarc": kritarc, "folder": folder}


def gray_u8_layer(photograph: np.ndarray) -> bytes:
    """Krita's raw GRAYA U8 bytes (gray, alpha) of the photograph, opaque."""
    gray = np.round(photograph[..., 0] * np.iinfo(np.uint8).max)
    return np.dstack([gray, np.full((SIZE, SIZE), np.iinfo(np.uint8).max)]).astype(np.uint8).tobytes()


def gui_case(gui: dict, name: str) -> tuple[dict, dict]:
    """The case named ``name`` and the probe's record of it."""
    record = gui["probe"]["cases"][name]
    assert not record.get("timeout"), f"{name}: the probe gave up waiting"
    assert "message" not in record, record["message"]
    return next(case for case in GUI_CASES if case["name"] == name), record


def is_original(state: dict, case: dict, folder: Path) -> bool:
    """Whether the document is as the case opened it: its model, one layer, the same bytes."""
    layers = state["layers"]
    return (
        state["model"] == case["model"]
        and len(layers) == 1
        and Path(layers[0]["pixels"]).read_bytes() == (folder / case["pixels"]).read_bytes()
    )


def test_install_plugin_enable_makes_krita_load_the_plugin(gui: dict) -> None:
    assert gui["kritarc"] == GUI_KRITARC.replace("enable_tinct_colorize=false", "enable_tinct_colorize=true")
    assert gui["probe"]["action"] == "Colorize Layer (tinct)", "Krita did not load the plugin"


def test_action_in_tools_scripts_colorizes_through_the_gui(gui: dict) -> None:
    """``Krita.action`` looks the action up in the main window's action collection, the one
    the keyboard shortcut settings list; the probe also finds it in the Tools ▸ Scripts menu.
    The options dialog starts from the working size saved in kritarc.
    """
    _, record = gui_case(gui, "new_layer")
    assert gui["probe"]["menu"] == ["Tools", "Scripts"]
    assert record["dialog"] == "Colorize Layer (tinct)"
    assert record["title_fits"], "the dialog is too narrow for its title"
    assert record["options"] == {"working_size": SIZE, "saturation": 1.0, "output": "new_layer", "device": "auto"}
    assert [layer["name"] for layer in record["end"]["layers"]] == ["Background", "Background (tinct)"]
    assert record["active"] == "Background (tinct)"
    before, after = (io.imread(gui["folder"] / f"new_layer.{name}") / np.iinfo(np.uint8).max for name in ("before.png", "after.png"))
    assert_coloured_with_same_lightness(before, after, EIGHT_BIT_LIGHTNESS_TOLERANCE)


# Krita's undo history after each colorization, oldest command first. New layer: adding the
# filled layer. Replace: the new layer's blending mode (Krita 5.2's Node.setBlendingMode is
# an undo step of its own, although the layer is not in the image yet), adding it, merging
# it down. A grayscale document: its conversion to RGB, then the new layer.
UNDO_HISTORY = {
    "new_layer": ["Add Layer"],
    "replace": ["Composition Mode Change", "Add Layer", "Merge Down"],
    "grayscale": ["Convert Image Color Space", "Add Layer"],
}
# How many Undos bring the original pixels back.
UNDOS_TO_ORIGINAL = {"new_layer": 1, "replace": 2, "grayscale": 2}


@pytest.mark.parametrize("name", list(UNDO_HISTORY))
def test_krita_undo_takes_the_colorization_back_step_by_step(gui: dict, name: str) -> None:
    """Krita's ``edit_undo``, triggered once per command: each undoes one command, the
    pixels are the original ones after :data:`UNDOS_TO_ORIGINAL` of them, bit for bit, and
    the document is unmodified once all are undone."""
    case, record = gui_case(gui, name)
    assert record["modified_before"] is False and record["end"]["modified"] is True
    assert not is_original(record["end"], case, gui["folder"])
    commands = UNDO_HISTORY[name]
    assert record["history"] == {"commands": commands, "done": len(commands)}
    steps = record["undo"]
    assert [step["history"] for step in steps] == [{"commands": commands, "done": done} for done in reversed(range(len(commands)))]
    restored = [is_original(step["state"], case, gui["folder"]) for step in steps]
    assert restored == [undos >= UNDOS_TO_ORIGINAL[name] for undos in range(1, len(commands) + 1)]
    assert steps[-1]["state"]["modified"] is False


@pytest.mark.parametrize("name", ["grayscale_declined", "grayscale_options_cancelled", "progress_cancelled"])
def test_declining_or_cancelling_leaves_the_document_unchanged_and_unmodified(gui: dict, name: str) -> None:
    """Declining the conversion, Cancel in the options dialog after accepting it, Cancel in
    the progress dialog: the document keeps its colour model and pixels, is not marked
    modified, and its undo history stays empty."""
    case, record = gui_case(gui, name)
    if case.get("convert"):
        assert "Convert it to RGB" in record["offer"]
    assert record["modified_before"] is False
    assert is_original(record["end"], case, gui["folder"])
    assert record["end"]["modified"] is False
    assert record["history"] == {"commands": [], "done": 0}
