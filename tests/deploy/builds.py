"""`sam build` once per test session and architecture, shared by the xdist workers (a file lock), with the Python the
Lambda runtime runs (``local.pythons.find_python``)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

from local.paths import ROOT
from local.pythons import RUNTIME_VERSION, find_python

SAM = Path(os.environ.get("SAM_CLI", ROOT / ".venv-tools" / "bin" / "sam"))
ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0", "DO_NOT_TRACK": "1"}
ENV.pop("ALLOW_NO_BYTECODE", None)


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

