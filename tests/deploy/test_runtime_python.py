"""The build Makefiles and the deploy tests find the runtime's Python (3.13) the same way: on PATH, then pyenv's build
of it, asked directly (its shim fails unless that version is active). Fake interpreters, so this runs anywhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from local.paths import ROOT
from tests.deploy import builds

MAKEFILES = [ROOT / "functions" / "Makefile", ROOT / "layers" / "common" / "Makefile"]


def _fake_python(path: Path, version: str) -> Path:
    """Answers as the builds ask: `-c '...print...'` prints its version; `-c 'sys.exit(...)'` exits 0 only for 3.13."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = 0 if version == "3.13" else 1
    path.write_text(f'#!/bin/sh\ncase "$2" in *print*) echo {version}; exit 0;; esac\nexit {ok}\n')
    path.chmod(0o755)
    return path


def _makefile_choice(makefile: Path, path: str, home: Path) -> str:
    """RUNTIME_PYTHON as the Makefile sets it (a dry run: nothing is built, and the PATH needs no tools)."""
    probe = home / "probe.mk"  # read after the Makefile (an --eval would run before it)
    probe.write_text("$(info RUNTIME_PYTHON=$(RUNTIME_PYTHON))\n")
    command = ["/usr/bin/make", "--no-print-directory", "--dry-run", "-f", str(makefile), "-f", str(probe), "build-Probe"]
    env = {"PATH": path, "HOME": str(home)}
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30).stdout
    return next(line for line in out.splitlines() if line.startswith("RUNTIME_PYTHON=")).split("=", 1)[1].strip()


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A PATH whose python3 is 3.11 and a home whose pyenv has 3.13.0 (not active): what these machines look like."""
    bin_dir = tmp_path / "bin"
    _fake_python(bin_dir / "python3", "3.11")
    pyenv = _fake_python(tmp_path / "home" / ".pyenv" / "versions" / "3.13.0" / "bin" / "python3.13", "3.13")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    return {"bin": bin_dir, "home": tmp_path / "home", "pyenv": pyenv}


def test_pyenvs_build_is_found_when_path_has_another_python(machine):
    assert builds.find_python() == str(machine["pyenv"])
    for makefile in MAKEFILES:
        assert _makefile_choice(makefile, str(machine["bin"]), machine["home"]) == str(machine["pyenv"]), makefile


def test_a_python313_on_path_comes_first(machine):
    on_path = _fake_python(machine["bin"] / "python3.13", "3.13")
    assert builds.find_python() == str(on_path)
    for makefile in MAKEFILES:
        assert _makefile_choice(makefile, str(machine["bin"]), machine["home"]) == "python3.13", makefile


def test_no_python313_anywhere_is_none(machine):
    machine["pyenv"].unlink()
    assert builds.find_python() is None
    for makefile in MAKEFILES:
        assert _makefile_choice(makefile, str(machine["bin"]), machine["home"]) == "", makefile
