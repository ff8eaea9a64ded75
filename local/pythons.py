"""The Python the Lambda runtime runs (3.13), found as the build Makefiles find it: on PATH under whichever name it has,
then pyenv's build of it, asked directly (a pyenv shim fails unless that version is active). The deploy tests build
and boot with it; the benches measure the cold import with it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

RUNTIME_VERSION = "3.13"


def _is_version(python: str, version: str) -> bool:
    try:
        result = subprocess.run(  # noqa: S603 - interpreters found on PATH or in pyenv's versions
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip() == version


def find_python(version: str = RUNTIME_VERSION) -> str | None:
    """python<version> (or python3) on PATH, else pyenv's build of it (whose shim fails unless it is active)."""
    candidates = [shutil.which(f"python{version}"), shutil.which("python3")]
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)  # noqa: S607 - as the Makefiles
        roots.insert(0, root.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    for root in filter(None, roots):
        candidates += sorted(glob.glob(f"{root}/versions/{version}*/bin/python{version}"), reverse=True)
    for python in filter(None, candidates):
        if _is_version(python, version):
            return python
    return None
