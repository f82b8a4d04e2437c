"""The ``tinct`` command line: colorize, info, demo, train, eval, install-plugin."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn, Sequence

import numpy as np
from tqdm import tqdm

from . import __version__
from .batch import add_batch_options, run_batch_command, wants_batch
from .devices import DEVICE_CHOICES, describe_device, resolve_device
from .errors import ImageError, TinctError
from .hint_files import HintFolder, load_hint_image
from .hints import Hints, HintPoint, parse_hint_point
from .inference import Colorizer, default_model_path, load_model
from .io import DEFAULT_MAX_PIXELS, load_image, save_image

EXIT_FAILED = 1
# The shell's convention: 128 + the signal's number.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="model file (default: the model shipped with tinct, or $TINCT_MODEL)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default: auto = CUDA, then MPS, then CPU)")


def _add_colorize_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--working-size", type=_positive_int, default=None, help="long side the network sees, in pixels (default: the model's calibrated size)")
    parser.add_argument("--tile", type=_positive_int, default=None, help="largest network tile, in pixels (default: the model's)")
    parser.add_argument("--saturation", type=float, default=1.0, help="chroma multiplier, 0..4 (default 1)")


def _output_paths(args: argparse.Namespace) -> list[Path]:
    inputs = [Path(p) for p in args.inputs]
    if args.output is not None:
        if len(inputs) != 1:
            raise TinctError("-o names one output file; with several inputs use --out-dir DIR")
        return [args.output]
    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise TinctError(f"cannot use {args.out_dir} as the output folder: a file of that name is in the way") from None
    except OSError as error:
        raise TinctError(f"cannot create the output folder {args.out_dir}: {error.strerror or error}") from None
    return [args.out_dir / path.name for path in inputs]


def _check_hint_options(args: argparse.Namespace, batch: bool) -> list[HintPoint]:
    """The --hint points, parsed; raises `TinctError` for a malformed one or a bad combination.

    ``batch``: the inputs are a folder batch (see `wants_batch`), which takes a --hints folder only.
    """
    points = [parse_hint_point(text) for text in args.hint or []]
    several = batch or len(args.inputs) > 1
    if points and args.hints is not None:
        raise TinctError("give either --hint points or a --hints image, not both")
    if points and several:
        raise TinctError("--hint points belong to one photo; for several or a folder, use --hints FOLDER with one hint image per photo")
    if args.hints is not None and not args.hints.exists():
        raise TinctError(f"the hint image or folder {args.hints} does not exist")
    if args.hints is not None and several and not args.hints.is_dir():
        raise TinctError(f"with several inputs or a folder, --hints names a folder of hint images named like the photos; {args.hints} is not a folder")
    return points


def _hint_image(source: Path, image: np.ndarray, args: argparse.Namespace, folder: HintFolder | None) -> np.ndarray | None:
    """The hint image for ``source``: --hints itself, or its namesake in the --hints ``folder`` (None if it has none)."""
    path = args.hints if folder is None else folder.find(source)
    return None if path is None else load_hint_image(path, source, image.shape[:2], max_pixels=args.max_pixels)


def _error_line(error: BaseException) -> str:
    """``tinct: error: ...`` on one line, whatever the message holds."""
    return "tinct: error: " + " ".join(str(error).split())


def _colorize_file(
    colorizer: Colorizer, source: Path, target: Path, hint_points: list[HintPoint], hint_folder: HintFolder | None, args: argparse.Namespace, show_progress: bool
) -> None:
    if target.exists() and not args.force:
        raise ImageError(f"{target} already exists; pass --force to overwrite it")
    if target.resolve() == source.resolve():
        raise ImageError(f"{target} is the input itself; choose another output")
    image = load_image(source, max_pixels=args.max_pixels)
    hints: Hints = hint_points or _hint_image(source, image, args, hint_folder)
    bar: tqdm | None = None

    def advance(fraction: float) -> None:
        nonlocal bar
        if bar is None:  # made on the first progress, so nothing is drawn for a file that fails before
            bar = tqdm(total=100, desc=source.name, unit="%", leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
        bar.update(round(fraction * 100) - bar.n)

    try:
        result = colorizer.colorize(
            image, working_size=args.working_size, tile=args.tile, saturation=args.saturation, hints=hints, progress=advance if show_progress else None
        )
    finally:
        if bar is not None:
            bar.close()
    save_image(result, target)


def command_colorize(args: argparse.Namespace) -> int:
    batch = wants_batch(args)
    points = _check_hint_options(args, batch)
    if batch:
        return EXIT_FAILED if run_batch_command(args).failed else 0
    hint_folder = HintFolder(args.hints) if args.hints is not None and args.hints.is_dir() else None
    outputs = _output_paths(args)
    colorizer = load_model(args.model, device=args.device)
    colorizer.check_options(working_size=args.working_size, tile=args.tile, saturation=args.saturation)
    failures = 0
    show = sys.stderr.isatty() or bool(os.environ.get("TINCT_PROGRESS"))
    for source, target in zip(args.inputs, outputs):
        source = Path(source)
        try:
            _colorize_file(colorizer, source, target, points, hint_folder, args, show)
            print(f"{source} -> {target}")
        except TinctError as error:
            failures += 1
            print(_error_line(error), file=sys.stderr)
        except MemoryError:
            failures += 1
            print(_error_line(f"{source}: out of memory; lower --working-size or --tile, or use --device cpu"), file=sys.stderr)
        except Exception as error:  # noqa: BLE001 - a bug on one file must not lose the rest of a batch
            failures += 1
            print(_error_line(f"{source}: tinct failed unexpectedly ({type(error).__name__}: {error}); please report this"), file=sys.stderr)
    if failures and len(outputs) > 1:
        print(f"tinct: {failures} of {len(outputs)} images failed", file=sys.stderr)
    return EXIT_FAILED if failures else 0


def command_info(args: argparse.Namespace) -> int:
    import torch

    device = resolve_device(args.device)
    print(f"tinct {__version__} (torch {torch.__version__})")
    print(f"device: {describe_device(device)}")
    path = args.model or default_model_path()
    try:
        colorizer = load_model(args.model, device=args.device)
    except TinctError as error:
        print(f"model: {path} — not usable: {error}")
        return EXIT_FAILED
    training = colorizer.training
    print(f"model: {path}")
    print(f"architecture: {colorizer.architecture}")
    if training:
        summary = {key: training[key] for key in ("images_seen", "step", "wall_seconds", "data") if key in training}
        print("training: " + json.dumps(summary))
        if "metrics" in training:
            print("validation: " + json.dumps(training["metrics"]))
    else:
        print("training: none (untrained model)")
    if colorizer.calibration:
        print("calibration: " + json.dumps(colorizer.calibration))
    return 0


def command_demo(args: argparse.Namespace) -> int:
    from skimage import data

    from .io import to_float_image

    photo = data.coffee() if args.photo == "coffee" else data.astronaut() if args.photo == "astronaut" else data.chelsea()
    gray = np.asarray(np.rint(to_float_image(photo) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32) * 255), dtype=np.uint8)
    colorizer = load_model(args.model, device=args.device)
    colour = colorizer.colorize(gray, working_size=args.working_size)
    side_by_side = np.concatenate([np.repeat(gray[..., None], 3, axis=2), colour, photo[..., :3]], axis=1)
    if args.output.exists() and not args.force:
        raise ImageError(f"{args.output} already exists; pass --force to overwrite it")
    save_image(side_by_side, args.output)
    print(f"wrote {args.output}: gray input | tinct | original photo ({args.photo}, from scikit-image's sample data)")
    return 0


def command_train(args: argparse.Namespace) -> int:
    from .training.trainer import TrainingConfig, read_settings, train

    settings: dict = read_settings(args.config) if args.config else {}
    for name in ("data", "validation_data", "total_images", "batch_size", "learning_rate", "crop_size", "final_crop_size", "architecture", "seed", "initial_model"):
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    if args.resume:
        config = None
    else:
        if "data" not in settings:
            raise TinctError("tinct train needs --data DIR (a folder of colour photos) or a --config file naming it")
        config = TrainingConfig.from_dict(settings)
    counters = train(config, args.run, resume=args.resume, device=args.device, max_steps=args.max_steps)  # type: ignore[arg-type]
    print(f"trained to step {counters['step']} ({counters['images_seen']} images); model in {args.run / 'model.safetensors'}")
    return 0


def command_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate

    report = evaluate(
        args.data,
        model=args.model,
        baseline=args.baseline,
        out_dir=args.out,
        device=args.device,
        limit=args.limit,
        working_size=args.working_size,
        contact_sheet_count=args.contact_sheet,
        compare_models=args.compare_model,
    )
    print(report.table())
    if args.training_log is not None:
        from .evaluation import training_curve

        print(f"wrote {training_curve(args.training_log, (args.out or Path('.')) / 'training-curve.png')}")
    return 0


def command_install_plugin(args: argparse.Namespace) -> int:
    from .plugin_install import install_plugin

    location = install_plugin(args.host, dest=args.dest, link=args.link, enable=args.enable)
    print(f"installed the {args.host} plug-in in {location}; it will run tinct with {sys.executable}")
    if args.enable:
        from .kritarc import kritarc_path

        print(f"enabled it in {kritarc_path()}; it loads when Krita next starts (restart Krita if it is running)")
    elif args.host == "krita":
        print(
            "now enable it: in Krita, Settings ▸ Configure Krita ▸ Python Plugin Manager ▸ tick “tinct Colorize”, "
            "then restart Krita; or run this command again with --enable"
        )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``tinct: error:`` line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{_error_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinct", description="Automatic colorization of grayscale photographs.")
    parser.add_argument("--version", action="version", version=f"tinct {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    colorize = commands.add_parser("colorize", help="colorize image files")
    colorize.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (PNG, TIFF, JPEG, WebP) or folders")
    target = colorize.add_mutually_exclusive_group(required=True)
    target.add_argument("-o", "--output", type=Path, help="output file (one input)")
    target.add_argument("--out-dir", type=Path, help="output folder (outputs keep the inputs' names)")
    _add_model_options(colorize)
    _add_colorize_options(colorize)
    colorize.add_argument(
        "--hint", action="append", metavar="X,Y,#RRGGBB", help="colour hint: this colour at pixel (X, Y) from the top left (repeatable; one input)"
    )
    colorize.add_argument(
        "--hints", type=Path, metavar="IMAGE|FOLDER",
        help="hint image: an RGBA PNG of the photo's size whose opaque pixels are colour hints; with several inputs or a folder, a folder of them named like the photos (same relative paths, any image type)",
    )
    colorize.add_argument("--force", action="store_true", help="overwrite existing outputs")
    colorize.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, help=f"refuse larger images (default {DEFAULT_MAX_PIXELS:,})")
    add_batch_options(colorize, _positive_int)
    colorize.set_defaults(handler=command_colorize)

    info = commands.add_parser("info", help="version, model, device")
    _add_model_options(info)
    info.set_defaults(handler=command_info)

    demo = commands.add_parser("demo", help="colorize a sample photo offline and write a side-by-side PNG")
    demo.add_argument("-o", "--output", type=Path, default=Path("tinct-demo.png"), help="output PNG (default tinct-demo.png)")
    demo.add_argument("--photo", choices=("coffee", "astronaut", "chelsea"), default="coffee")
    demo.add_argument("--force", action="store_true", help="overwrite the output")
    demo.add_argument("--working-size", type=_positive_int, default=None)
    _add_model_options(demo)
    demo.set_defaults(handler=command_demo)

    train = commands.add_parser("train", help="train a model (resumable)")
    train.add_argument("--run-dir", dest="run", type=Path, required=True, help="run folder (checkpoints, log, model)")
    train.add_argument("--config", type=Path, help="JSON file of training settings")
    train.add_argument("--data", help="folder of colour photos")
    train.add_argument("--validation-data", help="folder of validation photos")
    train.add_argument("--total-images", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--crop-size", type=_positive_int)
    train.add_argument("--final-crop-size", type=_positive_int)
    train.add_argument("--architecture")
    train.add_argument("--seed", type=int)
    train.add_argument("--initial-model", help="fine-tune: start from this model file's weights (a new run with its own schedule)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    train.add_argument("--max-steps", type=_positive_int, help="stop after this many steps in this call")
    train.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    train.set_defaults(handler=command_train)

    evaluate = commands.add_parser("eval", help="measure a model against baselines on a folder of colour photos")
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    evaluate.add_argument("--baseline", type=Path, help="seed-style baseline model file (default: the shipped one)")
    evaluate.add_argument("--out", type=Path, help="folder for report.json and the contact sheet")
    evaluate.add_argument(
        "--compare-model", type=Path, action="append", help="another model file to score on the same photos, at its own calibration (repeatable)"
    )
    evaluate.add_argument("--limit", type=_positive_int, help="use only the first N photos")
    evaluate.add_argument("--working-size", type=_positive_int, default=None, help="default: the model's calibrated size")
    evaluate.add_argument("--contact-sheet", type=_positive_int, default=12, help="photos on the contact sheet")
    evaluate.add_argument(
        "--training-log", type=Path, action="append", help="a run's log.jsonl: also draw quality against training time (repeat for a run and its fine-tuning)"
    )
    evaluate.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    evaluate.set_defaults(handler=command_eval)

    install = commands.add_parser("install-plugin", help="install the GIMP or Krita plug-in for this environment")
    install.add_argument("host", choices=("gimp", "krita"))
    install.add_argument("--dest", type=Path, help="install into this folder instead of the host's user folder")
    install.add_argument("--link", action="store_true", help="link to the source instead of copying (for development)")
    install.add_argument("--enable", action="store_true", help="Krita only: also enable the plugin in Krita's settings file (kritarc)")
    install.set_defaults(handler=command_install_plugin)
    return parser


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt, so atomic writes remove their temporary files."""


def _raise_terminated(number: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        return args.handler(args)
    except TinctError as error:
        print(_error_line(error), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("tinct: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("tinct: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
