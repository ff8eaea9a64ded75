"""The template deploys: `sam validate --lint` and `sam build` pass here, without Docker or an AWS account."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from local import template
from local.paths import ROOT

# sam and cfn-lint have their own venv (see the Makefile); SAM_CLI points elsewhere if needed
SAM = Path(os.environ.get("SAM_CLI", ROOT / ".venv-tools" / "bin" / "sam"))
ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0", "DO_NOT_TRACK": "1"}


def _sam(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SAM), *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)



def test_sam_validate_lint_passes():
    result = _sam("validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_build_makes_arm64_python313_artifacts(tmp_path):
    build_dir = tmp_path / "build"
    result = _sam("build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    layer = build_dir / "CommonLayer" / "python"
    assert (layer / "gateway_common" / "web.py").exists()
    assert (layer / "gateway_common" / "plans.json").exists()
    native = list((layer / "pydantic_core").glob("_pydantic_core.*.so"))
    assert native and all("cpython-313-aarch64-linux-gnu" in p.name for p in native), native

    for function in template.functions():
        source = ROOT / function.code_uri
        packages = [p.name for p in source.iterdir() if p.is_dir() and p.name.startswith("gw_")]
        artifact = build_dir / function.logical_id
        assert packages, f"{function.code_uri} has no gw_* package"
        for package in packages:
            assert (artifact / package / "__init__.py").exists(), f"{function.logical_id} lacks its package {package}"
        assert not list(artifact.rglob("__pycache__")), f"{function.logical_id} ships bytecode caches"
    chat = build_dir / "ChatFunction"
    assert (chat / "uvicorn" / "__init__.py").exists(), "the Web Adapter's web server must ship with the chat function"
    assert os.access(chat / "gw_chat" / "run.sh", os.X_OK), "the Web Adapter entry script must stay executable"
    shutil.rmtree(build_dir, ignore_errors=True)
