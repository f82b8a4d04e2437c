"""tinct for Krita: "Colorize Layer (tinct)" under Tools ▸ Scripts.

Host glue only. Krita's Python has the standard library, PyQt5 and ``krita`` and nothing
else, so the colorization runs in the user's tinct environment as a worker process,
reached through ``worker_protocol`` (placed beside these modules by
``tinct install-plugin krita``).
"""

from krita import Krita

from .extension import TinctExtension

Krita.instance().addExtension(TinctExtension(Krita.instance()))
