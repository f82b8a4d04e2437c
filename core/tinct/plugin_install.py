"""Installing the GIMP and Krita plug-ins (``tinct install-plugin {gimp,krita}``).

A plug-in is placed in the host's user plug-in folder together with a copy of
:mod:`tinct.worker_protocol` (the plug-ins' only link to tinct) and ``tinct-plugin.json``,
which records the Python of the environment running the installation: the plug-in starts
the tinct worker with it (``$TINCT_PYTHON`` overrides it).

====== ========================================= ==============================================
host   placed in the user folder                 the folder (unless ``dest`` is given)
====== ========================================= ==============================================
gimp   ``tinct-colorize/`` (protocol and config  GIMP 3: ``$GIMP3_DIRECTORY/plug-ins``, else
       inside)                                   Linux ``$XDG_CONFIG_HOME`` (``~/.config``)
                                                 ``/GIMP/3.0/plug-ins``, macOS ``~/Library/
                                                 Application Support/GIMP/3.0/plug-ins``,
                                                 Windows ``%APPDATA%\\GIMP\\3.0\\plug-ins``
krita  ``tinct_colorize/`` (protocol and config  Krita 5: Linux ``$XDG_DATA_HOME``
       inside) and ``tinct_colorize.desktop``    (``~/.local/share``)``/krita/pykrita``, macOS
                                                 ``~/Library/Application Support/krita/
                                                 pykrita``, Windows ``%APPDATA%\\krita\\pykrita``
====== ========================================= ==============================================

The plug-in sources are read from the ``plugins/`` folder of the source checkout tinct runs
from (a ``pip install -e`` install), else from ``share/tinct/plugins`` of the environment
tinct was installed into (the wheel carries them as data files).

Krita loads a Python plugin only once it is enabled: ``enable=True`` also writes
``enable_tinct_colorize=true`` into Krita's settings file (:mod:`tinct.kritarc`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from . import worker_protocol
from .errors import TinctError
from .kritarc import enable_python_plugin, kritarc_path

__all__ = ["HOSTS", "PluginInstallError", "install_plugin", "user_plugin_folder"]


class PluginInstallError(TinctError):
    """A plug-in cannot be installed: unknown host, missing plug-in files, unwritable folder."""


@dataclass(frozen=True)
class _Layout:
    """Where a host's plug-in files are in ``plugins/<host>/`` and how the host finds them."""

    package: str
    """The folder that is copied whole and also receives the protocol and config files."""
    beside: tuple[str, ...] = ()
    """Further files placed next to that folder."""
    executable: str | None = None
    """A file in the folder that must be executable."""


_LAYOUTS = {
    "gimp": _Layout(package="tinct-colorize", executable="tinct-colorize.py"),
    "krita": _Layout(package="tinct_colorize", beside=("tinct_colorize.desktop",)),
}
HOSTS = tuple(_LAYOUTS)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _app_data(*parts: str) -> Path:
    """``%APPDATA%`` (Windows) or ``~/Library/Application Support`` (macOS) joined with parts."""
    if sys.platform == "win32":
        if not os.environ.get("APPDATA"):
            raise PluginInstallError("%APPDATA% is not set, so the plug-in folder is unknown; pass --dest")
        return Path(os.environ["APPDATA"], *parts)
    return Path.home().joinpath("Library", "Application Support", *parts)


def user_plugin_folder(host: str) -> Path:
    """The user plug-in folder of GIMP 3 or Krita 5 on this system (see the module table)."""
    if host == "gimp":
        gimp_directory = os.environ.get("GIMP3_DIRECTORY")
        if gimp_directory:
            return Path.home() / gimp_directory / "plug-ins"  # GIMP reads a relative value from home
        if sys.platform in ("win32", "darwin"):
            return _app_data("GIMP", "3.0", "plug-ins")
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config", "GIMP", "3.0", "plug-ins")
    if host == "krita":
        if sys.platform in ("win32", "darwin"):
            return _app_data("krita", "pykrita")
        return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share", "krita", "pykrita")
    raise PluginInstallError(f"unknown plug-in host {host!r}; choose one of {', '.join(HOSTS)}")


def _plugin_source_candidates(host: str) -> list[Path]:
    """Where ``plugins/<host>`` may be: the source checkout, then the installed data files."""
    checkout = Path(__file__).resolve().parents[2] / "plugins" / host
    schemes = (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user"))
    return [checkout, *(Path(sysconfig.get_path("data", scheme)) / "share" / "tinct" / "plugins" / host for scheme in schemes)]


def _plugin_sources(host: str) -> Path:
    """The folder holding the ``host`` plug-in's files (see `_plugin_source_candidates`)."""
    layout = _LAYOUTS[host]
    candidates = _plugin_source_candidates(host)
    for sources in candidates:
        if (sources / layout.package).is_dir() and all((sources / name).exists() for name in layout.beside):
            return sources
    raise PluginInstallError(
        f"the {host} plug-in files are not installed (looked in {', '.join(map(str, candidates))}); "
        "reinstall tinct with pip, or install it from its source checkout with `pip install -e <checkout>`"
    )


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _place(source: Path, target: Path, link: bool) -> None:
    """Copy ``source`` (file or folder) to ``target``, or make ``target`` a link to it."""
    _remove(target)
    if link:
        target.symlink_to(source, target_is_directory=source.is_dir())
    elif source.is_dir():
        shutil.copytree(source, target, ignore=_IGNORED)
    else:
        shutil.copy2(source, target)


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def install_plugin(host: str, dest: str | os.PathLike[str] | None = None, link: bool = False, enable: bool = False) -> Path:
    """Install the ``host`` (``"gimp"`` or ``"krita"``) plug-in; return its installed folder.

    Parameters
    ----------
    host
        ``"gimp"`` (GIMP 3) or ``"krita"`` (Krita 5).
    dest
        The folder to install into instead of the host's user plug-in folder.
    link
        Link the plug-in's files to the source checkout instead of copying them, so edits
        there take effect at the host's next start (symbolic links: on Windows these need
        Developer Mode).
    enable
        Krita only: also enable the plugin in Krita's settings file, ``kritarc`` (Krita's
        own, wherever ``dest`` puts the plugin), so it loads at Krita's next start.

    An earlier installation in the same place is replaced. ``tinct-plugin.json`` records
    ``{"python": sys.executable}``. Raises :class:`PluginInstallError`, or
    :class:`tinct.kritarc.KritarcError` if ``kritarc`` cannot be written.
    """
    if host not in _LAYOUTS:
        raise PluginInstallError(f"unknown plug-in host {host!r}; choose one of {', '.join(HOSTS)}")
    if enable and host != "krita":
        raise PluginInstallError(f"--enable is for Krita only: {host} loads its plug-ins without it; install without --enable")
    kritarc = kritarc_path() if enable else None  # before installing: it may be unknown
    layout = _LAYOUTS[host]
    sources = _plugin_sources(host)
    root = Path(dest).expanduser() if dest is not None else user_plugin_folder(host)
    target = root / layout.package
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove(target)
        target.mkdir()
        for entry in sorted((sources / layout.package).iterdir()):
            if not _IGNORED(str(entry.parent), [entry.name]):
                _place(entry, target / entry.name, link)
        protocol = Path(worker_protocol.__file__).resolve()
        _place(protocol, target / protocol.name, link)
        for name in layout.beside:
            _place(sources / name, root / name, link)
        if layout.executable is not None:
            _make_executable((target / layout.executable).resolve())
        config = {"python": sys.executable}
        (target / worker_protocol.CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        advice = " (symbolic links on Windows need Developer Mode; install without --link)" if link else ""
        raise PluginInstallError(f"cannot install the {host} plug-in into {root}: {error}{advice}") from None
    if kritarc is not None:
        enable_python_plugin(layout.package, kritarc)  # Krita's module name is the package's
    return target
