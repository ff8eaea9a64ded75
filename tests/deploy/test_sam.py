"""The template deploys: `sam validate --lint` and `sam build` pass here, without Docker or an AWS account."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from local import template
from local.paths import ROOT

# sam and cfn-lint have their own venv (see the Makefile); SAM_CLI points elsewhere if needed
SAM = Path(os.environ.get("SAM_CLI", ROOT / ".venv-tools" / "bin" / "sam"))
ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0", "DO_NOT_TRACK": "1"}
BUILD_ENV = {**ENV, "ALLOW_NO_BYTECODE": "1"}  # this machine has no python3.13 (the layer's Makefile explains)


def _sam(*args: str, cwd: Path = ROOT, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SAM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)



def test_sam_validate_lint_passes():
    result = _sam("validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_build_makes_arm64_python313_artifacts(tmp_path):
    build_dir = tmp_path / "build"
    result = _sam("build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"), env=BUILD_ENV)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    layer = build_dir / "CommonLayer" / "python"
    assert (layer / "gateway_common" / "web.py").exists()
    assert (layer / "gateway_common" / "plans.json").exists()
    assert not [p for p in layer.rglob("*.pyc") if ".cpython-313." not in p.name], "the layer ships another Python's bytecode"
    native = list((layer / "pydantic_core").glob("_pydantic_core.*.so"))
    assert native and all("cpython-313-aarch64-linux-gnu" in p.name for p in native), native

    for function in template.functions():
        source = ROOT / function.code_uri
        packages = [p.name for p in source.iterdir() if p.is_dir() and p.name.startswith("gw_")]
        artifact = build_dir / function.logical_id
        assert packages, f"{function.code_uri} has no gw_* package"
        for package in packages:
            assert (artifact / package / "__init__.py").exists(), f"{function.logical_id} lacks its package {package}"
        foreign = [p for p in artifact.rglob("*.pyc") if ".cpython-313." not in p.name]
        assert not foreign, f"{function.logical_id} ships bytecode of another Python: {foreign[:3]}"
    chat = build_dir / "ChatFunction"
    assert (chat / "uvicorn" / "__init__.py").exists(), "the Web Adapter's web server must ship with the chat function"
    assert os.access(chat / "gw_chat" / "run.sh", os.X_OK), "the Web Adapter entry script must stay executable"
    shutil.rmtree(build_dir, ignore_errors=True)


def test_layer_build_refuses_to_ship_without_bytecode_unless_told(tmp_path):
    """Without bytecode Lambda compiles the layer at every cold start (~0.6 s): the build stops and says what to do."""
    artifacts = tmp_path / "layer"
    artifacts.mkdir()
    # PYVER names a Python no machine has, so this holds where a python3.13 is installed too; the check comes first
    command = ["make", "--no-print-directory", "-C", str(ROOT / "layers" / "common"), "build-CommonLayer",
               f"ARTIFACTS_DIR={artifacts}", "PYVER=3.99"]
    env = {k: v for k, v in ENV.items() if k != "ALLOW_NO_BYTECODE"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "no python3.99 here to compile the layer's bytecode" in result.stderr
    assert "sam build --use-container" in result.stderr and "ALLOW_NO_BYTECODE=1" in result.stderr
    assert list(artifacts.iterdir()) == [], "nothing may be installed before the refusal"


def test_function_build_ships_bytecode_that_lambda_uses_as_is(tmp_path):
    """Where the runtime's Python is at hand the package ships unchecked-hash bytecode (a zip keeps file times to 2 s,
    so timestamp-checked .pyc would look stale on Lambda). Run as sam runs it: functions/Makefile in a copy of the
    function's directory. PYVER is this interpreter's version here: no 3.13 needed."""
    source = shutil.copytree(ROOT / "functions" / "account", tmp_path / "source")
    artifacts = tmp_path / "account"
    artifacts.mkdir()
    pyver = f"{sys.version_info.major}.{sys.version_info.minor}"
    command = ["make", "--no-print-directory", "--makefile", str(ROOT / "functions" / "Makefile"), "build-AccountFunction",
               f"ARTIFACTS_DIR={artifacts}", f"PYVER={pyver}"]
    result = subprocess.run(command, cwd=source, env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    compiled = sorted(artifacts.rglob("*.pyc"))
    sources = sorted(artifacts.rglob("*.py"))
    assert len(compiled) == len(sources) > 0
    assert (artifacts / "gw_account" / "app.py") in sources
    for pyc in compiled:
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{pyc.name}: not unchecked-hash bytecode (flags {flags:#b})"
