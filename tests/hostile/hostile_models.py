"""Model files a hostile or careless user could hand tinct, built from a real one.

The weights' checksum covers the tensors, not the JSON metadata, so anyone can edit the
metadata and keep a file that passes the checksum: these helpers do exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file

from tinct.checkpoint import METADATA_KEY


def read_metadata(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()[METADATA_KEY])


def with_metadata(source: Path, target: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    """Copy ``source`` to ``target`` with its tinct metadata passed through ``edit``.

    ``edit`` changes the dict in place (returning None) or returns what to store instead;
    a returned ``str`` is stored verbatim (for metadata that is not even JSON).
    """
    with safe_open(str(source), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = json.loads(handle.metadata()[METADATA_KEY])
    edited = edit(metadata)
    stored = metadata if edited is None else edited
    save_file(tensors, str(target), metadata={METADATA_KEY: stored if isinstance(stored, str) else json.dumps(stored)})
    return target
