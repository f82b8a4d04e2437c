"""``install_plugin``: where the GIMP and Krita plug-ins go and what is placed with them."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import tinct
from tinct import worker_protocol
from tinct.kritarc import KritarcError, enable_python_plugin, kritarc_path
from tinct.plugin_install import PluginInstallError, install_plugin, user_plugin_folder

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
PROTOCOL = Path(worker_protocol.__file__).resolve()


def source_entries(folder: Path) -> set[str]:
    return {entry.name for entry in folder.iterdir() if entry.name != "__pycache__"}


def test_gimp_install_copies_plugin_protocol_and_config(tmp_path: Path) -> None:
    installed = install_plugin("gimp", dest=tmp_path)
    assert installed == tmp_path / "tinct-colorize"
    main = installed / "tinct-colorize.py"
    assert filecmp.cmp(main, PLUGINS / "gimp" / "tinct-colorize" / "tinct-colorize.py", shallow=False)
    assert os.access(main, os.X_OK), "GIMP only runs executable plug-ins"
    assert filecmp.cmp(installed / "worker_protocol.py", PROTOCOL, shallow=False)
    assert json.loads((installed / "tinct-plugin.json").read_text()) == {"python": sys.executable}
    assert not any(path.is_symlink() for path in installed.iterdir())


def test_krita_install_places_package_desktop_file_protocol_and_config(tmp_path: Path) -> None:
    installed = install_plugin("krita", dest=tmp_path)
    assert installed == tmp_path / "tinct_colorize"
    sources = PLUGINS / "krita" / "tinct_colorize"
    assert source_entries(installed) == source_entries(sources) | {"worker_protocol.py", "tinct-plugin.json"}
    assert filecmp.cmp(tmp_path / "tinct_colorize.desktop", PLUGINS / "krita" / "tinct_colorize.desktop", shallow=False)
    assert filecmp.cmp(installed / "worker_protocol.py", PROTOCOL, shallow=False)
    assert json.loads((installed / "tinct-plugin.json").read_text()) == {"python": sys.executable}


@pytest.mark.parametrize("host", ["gimp", "krita"])
def test_linked_install_points_into_the_checkout(tmp_path: Path, host: str) -> None:
    installed = install_plugin(host, dest=tmp_path, link=True)
    sources = PLUGINS / host / installed.name
    for name in source_entries(sources):
        assert (installed / name).is_symlink() and (installed / name).resolve() == (sources / name).resolve()
    assert (installed / "worker_protocol.py").resolve() == PROTOCOL
    config = installed / "tinct-plugin.json"
    assert not config.is_symlink() and json.loads(config.read_text()) == {"python": sys.executable}


def test_reinstall_replaces_the_earlier_install(tmp_path: Path) -> None:
    linked = install_plugin("gimp", dest=tmp_path, link=True)
    (linked / "left-over.txt").write_text("from an older version")
    copied = install_plugin("gimp", dest=tmp_path)
    assert not (copied / "left-over.txt").exists()
    assert not (copied / "tinct-colorize.py").is_symlink()


def test_installed_protocol_needs_only_the_standard_library(tmp_path: Path) -> None:
    installed = install_plugin("gimp", dest=tmp_path)
    # -S: no site-packages (no numpy, torch or tinct), -E: no PYTHONPATH, as in GIMP and Krita.
    ran = subprocess.run([sys.executable, "-S", "-E", str(installed / "worker_protocol.py")], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize(
    ("host", "platform", "environment", "expected"),
    [
        ("gimp", "linux", {"XDG_CONFIG_HOME": "/xdg/config"}, "/xdg/config/GIMP/3.0/plug-ins"),
        ("gimp", "linux", {}, "/home/ada/.config/GIMP/3.0/plug-ins"),
        ("gimp", "linux", {"GIMP3_DIRECTORY": "/gimp/profile"}, "/gimp/profile/plug-ins"),
        ("gimp", "linux", {"GIMP3_DIRECTORY": "gimp-profile"}, "/home/ada/gimp-profile/plug-ins"),
        ("gimp", "darwin", {}, "/home/ada/Library/Application Support/GIMP/3.0/plug-ins"),
        ("gimp", "win32", {"APPDATA": "/appdata"}, "/appdata/GIMP/3.0/plug-ins"),
        ("krita", "linux", {"XDG_DATA_HOME": "/xdg/data"}, "/xdg/data/krita/pykrita"),
        ("krita", "linux", {}, "/home/ada/.local/share/krita/pykrita"),
        ("krita", "darwin", {}, "/home/ada/Library/Application Support/krita/pykrita"),
        ("krita", "win32", {"APPDATA": "/appdata"}, "/appdata/krita/pykrita"),
    ],
)
def test_user_plugin_folder_per_platform(
    monkeypatch: pytest.MonkeyPatch, host: str, platform: str, environment: dict[str, str], expected: str
) -> None:
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "GIMP3_DIRECTORY", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/home/ada")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "platform", platform)
    assert user_plugin_folder(host) == Path(expected)


def test_windows_without_appdata_asks_for_dest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPDATA", raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(PluginInstallError, match="--dest"):
        user_plugin_folder("gimp")


def test_unknown_host_is_a_tinct_error(tmp_path: Path) -> None:
    with pytest.raises(tinct.TinctError, match="gimp, krita"):
        install_plugin("photoshop", dest=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destination_is_a_tinct_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PluginInstallError, match="cannot install the gimp plug-in"):
        install_plugin("gimp", dest=blocker / "plug-ins")


@pytest.mark.slow
def test_plugins_install_from_a_built_wheel(tmp_path: Path) -> None:
    """`pip install tinct` (no checkout) carries the plug-ins: install-plugin finds them in the environment."""
    root = PLUGINS.parent
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (source / name).write_bytes((root / name).read_bytes())
    for name in ("core", "plugins"):
        shutil.copytree(root / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "wheels"), str(source)], check=True, timeout=600)
    environment = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)], check=True, timeout=120)
    python = environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    wheel = next((tmp_path / "wheels").glob("tinct-*.whl"))
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True, timeout=600)
    # tinct's dependencies come from this test's environment, tinct itself from the wheel.
    site_packages = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True, check=True).stdout.strip()
    Path(site_packages, "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    for host, package in (("gimp", "tinct-colorize"), ("krita", "tinct_colorize")):
        completed = subprocess.run(
            [str(python), "-m", "tinct.cli", "install-plugin", host, "--dest", str(tmp_path / host)], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert completed.returncode == 0, completed.stderr
        installed = tmp_path / host / package
        sources = PLUGINS / host / package
        assert source_entries(installed) == source_entries(sources) | {"worker_protocol.py", "tinct-plugin.json"}
        for name in source_entries(sources):
            assert filecmp.cmp(installed / name, sources / name, shallow=False)
        assert json.loads((installed / "tinct-plugin.json").read_text()) == {"python": str(python)}
    assert os.access(tmp_path / "gimp" / "tinct-colorize" / "tinct-colorize.py", os.X_OK)
    assert (tmp_path / "krita" / "tinct_colorize.desktop").is_file()


def test_krita_install_says_the_plugin_must_be_enabled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinct.cli import main

    assert main(["install-plugin", "krita", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Settings ▸ Configure Krita ▸ Python Plugin Manager" in out and "--enable" in out
    assert main(["install-plugin", "gimp", "--dest", str(tmp_path)]) == 0
    assert "Plugin Manager" not in capsys.readouterr().out


KRITARC_WITH_OTHER_GROUPS = (
    b"# kritarc, as Krita and its user left it\r\n"
    b"[General]\r\n"
    b"CanvasSize = 1024\r\n"
    b"LastPreset=Basic_Tip_Default\r\n"
    b"\r\n"
    b"[python]\r\n"
    b"# enabled by hand\r\n"
    b"enable_scripter=true\r\n"
    b"Enable_Tinct_Colorize=false\r\n"
    b"\r\n"
    b"[tinct_colorize]\r\n"
    b"working_size=512\r\n"
    b"\r\n"
    b"[python][nested]\r\n"
    b"enable_tinct_colorize=false"
)


@pytest.fixture
def krita_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty ``$XDG_CONFIG_HOME`` on Linux, for Krita's ``kritarc``."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def test_desktop_file_names_the_installed_package_as_its_module() -> None:
    """Krita imports X-KDE-Library from pykrita and reads ``enable_<it>`` in kritarc: it must be the package."""
    desktop = (PLUGINS / "krita" / "tinct_colorize.desktop").read_text(encoding="utf-8").splitlines()
    assert "X-KDE-Library=tinct_colorize" in desktop
    assert (PLUGINS / "krita" / "tinct_colorize" / "__init__.py").is_file()


def test_enable_keeps_every_other_byte_of_kritarc(tmp_path: Path) -> None:
    kritarc = tmp_path / "kritarc"
    kritarc.write_bytes(KRITARC_WITH_OTHER_GROUPS)
    kritarc.chmod(0o640)
    assert enable_python_plugin("tinct_colorize", kritarc) == kritarc
    before, after = KRITARC_WITH_OTHER_GROUPS.split(b"\r\n"), kritarc.read_bytes().split(b"\r\n")
    # Keys are case-sensitive: Enable_Tinct_Colorize is another key; the nested group is another group.
    assert after == [*before[:9], b"enable_tinct_colorize=true", *before[9:]]
    assert stat.S_IMODE(kritarc.stat().st_mode) == 0o640
    assert [entry.name for entry in tmp_path.iterdir()] == ["kritarc"]


def test_enable_replaces_a_false_entry_in_place(tmp_path: Path) -> None:
    kritarc = tmp_path / "kritarc"
    original = b"[python]\nenable_tinct_colorize = false\nenable_scripter=true\n\n[General]\nenable_tinct_colorize=false\n"
    kritarc.write_bytes(original)
    enable_python_plugin("tinct_colorize", kritarc)
    assert kritarc.read_bytes() == original.replace(b"enable_tinct_colorize = false", b"enable_tinct_colorize = true")


def test_enable_adds_the_python_group_where_missing(tmp_path: Path) -> None:
    kritarc = tmp_path / "kritarc"
    kritarc.write_bytes(b"[General]\nCanvasSize=1024")
    enable_python_plugin("tinct_colorize", kritarc)
    assert kritarc.read_bytes() == b"[General]\nCanvasSize=1024\n\n[python]\nenable_tinct_colorize=true\n"


def test_enable_creates_a_missing_kritarc_private_to_its_owner(tmp_path: Path) -> None:
    kritarc = tmp_path / "config" / "kritarc"
    enable_python_plugin("tinct_colorize", kritarc)
    assert kritarc.read_bytes() == b"[python]\nenable_tinct_colorize=true\n"
    assert stat.S_IMODE(kritarc.stat().st_mode) == 0o600, "as Krita creates it"


def test_enable_leaves_an_enabled_kritarc_untouched_and_follows_links(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "kritarc"
    dotfiles.parent.mkdir()
    dotfiles.write_bytes(b"[python]\nenable_tinct_colorize=false\n")
    kritarc = tmp_path / "kritarc"
    kritarc.symlink_to(dotfiles)
    assert enable_python_plugin("tinct_colorize", kritarc) == dotfiles
    assert kritarc.is_symlink() and dotfiles.read_bytes() == b"[python]\nenable_tinct_colorize=true\n"
    inode = dotfiles.stat().st_ino
    enable_python_plugin("tinct_colorize", kritarc)
    assert dotfiles.stat().st_ino == inode, "rewritten although already enabled"


@pytest.mark.parametrize(
    ("platform", "environment", "expected"),
    [
        ("linux", {"XDG_CONFIG_HOME": "/xdg/config"}, "/xdg/config/kritarc"),
        ("linux", {}, "/home/ada/.config/kritarc"),
        ("darwin", {}, "/home/ada/Library/Preferences/kritarc"),
        ("win32", {"LOCALAPPDATA": "/localappdata"}, "/localappdata/kritarc"),
    ],
)
def test_kritarc_path_per_platform(monkeypatch: pytest.MonkeyPatch, platform: str, environment: dict[str, str], expected: str) -> None:
    for name in ("XDG_CONFIG_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/home/ada")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "platform", platform)
    assert kritarc_path() == Path(expected)


def test_windows_without_localappdata_enables_nothing_and_installs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(KritarcError, match="Python Plugin Manager"):
        install_plugin("krita", dest=tmp_path, enable=True)
    assert list(tmp_path.iterdir()) == []


def test_install_plugin_krita_enable_writes_kritarc(krita_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinct.cli import main

    assert main(["install-plugin", "krita", "--dest", str(tmp_path / "pykrita"), "--enable"]) == 0
    assert (tmp_path / "pykrita" / "tinct_colorize" / "__init__.py").is_file()
    assert (krita_config / "kritarc").read_bytes() == b"[python]\nenable_tinct_colorize=true\n"
    assert f"enabled it in {krita_config / 'kritarc'}" in capsys.readouterr().out


def test_enable_with_gimp_is_a_one_line_error(krita_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinct.cli import main

    with pytest.raises(PluginInstallError, match="Krita only"):
        install_plugin("gimp", dest=tmp_path, enable=True)
    assert main(["install-plugin", "gimp", "--dest", str(tmp_path), "--enable"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("tinct: error: --enable is for Krita only") and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    assert not krita_config.exists()
