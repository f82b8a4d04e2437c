"""Switching a Krita Python plug-in on in Krita's settings file, ``kritarc``.

Krita loads a Python plug-in only if the ``[python]`` group of ``kritarc`` holds
``enable_<module>=true``, ``<module>`` being the ``X-KDE-Library`` of the plug-in's
``.desktop`` file; Settings ▸ Configure Krita ▸ Python Plugin Manager writes the same entry.

The file is edited as bytes, line by line: only that entry is added or changed, and every
other byte (comments, other groups, their order and case, line endings) stays as it was,
which a configparser round trip would not keep. The new content replaces the file
atomically, with the file's permissions; a new file is readable by its owner only, as
Krita (KConfig) makes it.

======= ===============================================================
system  ``kritarc``
======= ===============================================================
Linux   ``$XDG_CONFIG_HOME`` (``~/.config``) ``/kritarc``
macOS   ``~/Library/Preferences/kritarc``
Windows ``%LOCALAPPDATA%\\kritarc``
======= ===============================================================
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from .atomic import write_atomically
from .errors import TinctError

__all__ = ["KritarcError", "enable_python_plugin", "kritarc_path"]

GROUP = b"[python]"
_TRUE = b"true"
_COMMENT = b"#"
_NEW_FILE_MODE = 0o600
_ENABLE_BY_HAND = "enable the plug-in in Krita instead (Settings ▸ Configure Krita ▸ Python Plugin Manager)"


class KritarcError(TinctError):
    """Krita's settings file cannot be found, read or written."""


def kritarc_path() -> Path:
    """Where Krita 5 keeps ``kritarc`` on this system (see the module table)."""
    if sys.platform == "win32":
        if not os.environ.get("LOCALAPPDATA"):
            raise KritarcError(f"%LOCALAPPDATA% is not set, so Krita's settings file is unknown; {_ENABLE_BY_HAND}")
        return Path(os.environ["LOCALAPPDATA"], "kritarc")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "kritarc"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config", "kritarc")


def _line_ending(line: bytes) -> bytes:
    return line[len(line.rstrip(b"\r\n")) :]


def _with_plugin_enabled(text: bytes, module: str) -> bytes:
    """``text``, the bytes of a ``kritarc``, with ``enable_<module>=true`` in its ``[python]`` group.

    An entry for the module whose value is not ``true`` gets that value, wherever the group
    appears; without one, the entry goes after the last entry of the first ``[python]``
    group, or into a new group at the end of the file. Nothing else changes.
    """
    key = f"enable_{module}".encode()
    newline = b"\r\n" if b"\r\n" in text else b"\n"
    lines = text.splitlines(keepends=True)
    in_group = in_first_group = found = False
    insert_at: int | None = None  # after the first [python] group's header, then its last entry
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(b"["):
            in_group = stripped == GROUP
            in_first_group = in_group and insert_at is None
            if in_first_group:
                insert_at = index + 1
            continue
        if not in_group or not stripped or stripped.startswith(_COMMENT):
            continue
        if in_first_group:
            insert_at = index + 1
        name, equals, value = line.rstrip(b"\r\n").partition(b"=")
        if equals and name.strip() == key:
            found = True
            if value.strip().lower() != _TRUE:
                indent = value[: len(value) - len(value.lstrip(b" \t"))]
                lines[index] = name + equals + indent + _TRUE + _line_ending(line)
    if found:
        return b"".join(lines)
    entry = key + b"=" + _TRUE + newline
    if insert_at is None:
        lines.append((newline if lines else b"") + GROUP + newline + entry)
        insert_at = len(lines) - 1
    else:
        lines.insert(insert_at, entry)
    if insert_at > 0 and not _line_ending(lines[insert_at - 1]):
        lines[insert_at - 1] += newline
    return b"".join(lines)


def enable_python_plugin(module: str, kritarc: Path | None = None) -> Path:
    """Write ``enable_<module>=true`` into ``kritarc`` (default: :func:`kritarc_path`); return the file.

    A missing file (and its folder) is created. A file already holding the entry is left
    untouched. A symbolic link keeps pointing to the file, which is what is rewritten.
    Krita reads the entry when it starts. Raises :class:`KritarcError`.
    """
    path = Path(os.path.realpath(kritarc if kritarc is not None else kritarc_path()))
    try:
        text, mode = path.read_bytes(), stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        text, mode = None, _NEW_FILE_MODE
    except OSError as error:
        raise KritarcError(f"cannot read Krita's settings file {path}: {error.strerror or error}; {_ENABLE_BY_HAND}") from None
    updated = _with_plugin_enabled(text or b"", module)
    if updated == text:
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda temporary: temporary.write_bytes(updated), mode=mode)
    except OSError as error:
        raise KritarcError(f"cannot write Krita's settings file {path}: {error.strerror or error}; {_ENABLE_BY_HAND}") from None
    return path
