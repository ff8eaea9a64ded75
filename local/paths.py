"""Import paths as Lambda sees them: the layer's packages and each function's package at top level."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def install() -> None:
    functions = sorted(p for p in (ROOT / "functions").iterdir() if p.is_dir())
    wanted = [ROOT / "layers" / "common", *functions, ROOT / "web"]  # web/: the dashboard's serving package gw_web
    for path in reversed(wanted):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
