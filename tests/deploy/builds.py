"""`sam build` once per test session and architecture, shared by the xdist workers (a file lock), and the Python the
Lambda runtime runs (3.13), found as the build Makefiles find it: on PATH, then pyenv's."""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from local.paths import ROOT

RUNTIME_VERSION = "3.13"
SAM = Path(os.environ.get("SAM_CLI", ROOT / ".venv-tools" / "bin" / "sam"))
ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0", "DO_NOT_TRACK": "1"}
ENV.pop("ALLOW_NO_BYTECODE", None)


def _is_version(python: str, version: str) -> bool:
    try:
        result = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip() == version


def find_python(version: str = RUNTIME_VERSION) -> str | None:
    """python<version> (or python3) on PATH, else pyenv's build of it (whose shim fails unless it is active)."""
    candidates = [shutil.which(f"python{version}"), shutil.which("python3")]
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    try:
        roots.insert(0, subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30).stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    for root in filter(None, roots):
        candidates += sorted(glob.glob(f"{root}/versions/{version}*/bin/python{version}"), reverse=True)
    for python in filter(None, candidates):
        if _is_version(python, version):
            return python
    return None


def session_dir(tmp_path_factory, worker_id: str) -> Path:  # type: ignore[no-untyped-def]
    """A directory shared by every xdist worker of this session (and by nothing else)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def build(arch: str, root: Path) -> Path:
    """`sam build` for ``arch`` into ``root/build-<arch>``, once per session: other workers wait on the lock."""
    dest = root / f"build-{arch}"
    with open(root / f"build-{arch}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = dest / "build-report.txt"
        if done.exists():
            return dest
        if dest.exists():
            shutil.rmtree(dest)
        if find_python() is None:
            raise AssertionError(
                f"no python{RUNTIME_VERSION} here (PATH or pyenv): the build needs it for the bytecode. "
                "`pyenv install 3.13` (README, Deploy) or put one on PATH")
        started = time.monotonic()
        result = subprocess.run(
            [str(SAM), "build", "--build-dir", str(dest / "out"), "--cache-dir", str(root / f"cache-{arch}"),
             "--parameter-overrides", f"Architecture={arch}"],
            cwd=ROOT, env={**ENV, "ARCH": arch}, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        sizes = [line for line in (result.stdout + result.stderr).splitlines() if "unzipped" in line]
        done.write_text(f"sam build {arch}: {time.monotonic() - started:.1f} s\n" + "\n".join(sizes) + "\n")
    return dest


def report(build_dir: Path) -> str:
    return (build_dir / "build-report.txt").read_text()

