"""The template deploys: `sam validate --lint` passes and `sam build` makes what Lambda runs, pinned as tested.

The build (arm64, what deploys) is made once per session by tests/deploy/conftest.py; these tests read it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local import template
from local.paths import ROOT
from tests.deploy import builds

ENV = builds.ENV
# what a marker sees on Lambda's python3.13 (the test venv runs another Python)
LAMBDA_MARKERS = {**default_environment(), "python_version": "3.13", "python_full_version": "3.13.0",
                  "sys_platform": "linux", "platform_system": "Linux", "implementation_name": "cpython",
                  "platform_python_implementation": "CPython", "platform_machine": "aarch64", "extra": ""}


def _sam(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(builds.SAM), *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)


def _artifacts(build_dir: Path) -> dict[str, Path]:
    """Each function's artifact and the layer's python/ folder, by logical id."""
    out = {f.logical_id: build_dir / f.logical_id for f in template.functions()}
    out["CommonLayer"] = build_dir / "CommonLayer" / "python"
    return out


def _distributions(folder: Path) -> dict[str, tuple[str, Path]]:
    found = {}
    for info in folder.glob("*.dist-info"):
        text = (info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", text, re.M).group(1).strip()  # type: ignore[union-attr]
        version = re.search(r"^Version: (.+)$", text, re.M).group(1).strip()  # type: ignore[union-attr]
        found[canonicalize_name(name)] = (version, info)
    return found


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_sam_validate_lint_passes():
    result = _sam("validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_build_makes_every_function_and_the_layer_with_its_packages(arm64_build):
    print("\n" + builds.report(arm64_build.parent))
    layer = arm64_build / "CommonLayer" / "python"
    assert (layer / "gateway_common" / "web.py").exists()
    assert (layer / "gateway_common" / "plans.json").exists()
    native = list((layer / "pydantic_core").glob("_pydantic_core.*.so"))
    assert native and all("cpython-313-aarch64-linux-gnu" in p.name for p in native), native
    for function in template.functions():
        source = ROOT / function.code_uri
        packages = [p.name for p in source.iterdir() if p.is_dir() and p.name.startswith("gw_")]
        assert packages, f"{function.code_uri} has no gw_* package"
        for package in packages:
            assert (arm64_build / function.logical_id / package / "__init__.py").exists(), \
                f"{function.logical_id} lacks its package {package}"
    web = arm64_build / "WebFunction"  # the dashboard ships its files, not its test tooling
    assert (web / "app" / "index.html").exists() and (web / "app" / "js" / "main.js").exists()
    assert not (web / "node_modules").exists() and not (web / "package.json").exists()
    chat = arm64_build / "ChatFunction"
    assert (chat / "uvicorn" / "__init__.py").exists(), "the Web Adapter's web server must ship with the chat function"
    assert os.access(chat / "gw_chat" / "run.sh", os.X_OK), "the Web Adapter entry script must stay executable"


def test_every_module_ships_python313_unchecked_hash_bytecode(arm64_build):
    """Lambda's /opt and /var/task are read-only: a module without valid 3.13 bytecode is compiled at every cold start.
    Unchecked-hash, because a zip keeps file times to 2 s and timestamp-checked .pyc would look stale."""
    python = builds.find_python()
    assert python, "no python3.13: the build could not have compiled bytecode"
    magic = bytes.fromhex(subprocess.run([python, "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
                                         capture_output=True, text=True, check=True).stdout.strip())
    for name, folder in _artifacts(arm64_build).items():
        sources = [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]
        assert sources, name
        missing = [p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.cpython-313.pyc").exists()]
        assert not missing, f"{name}: modules without 3.13 bytecode: {missing[:3]}"
        for pyc in folder.rglob("*.pyc"):
            assert ".cpython-313." in pyc.name, f"{name} ships another Python's bytecode: {pyc}"
            head = pyc.read_bytes()[:8]
            assert head[:4] == magic, f"{pyc}: magic {head[:4].hex()} is not Python 3.13's {magic.hex()}"
            assert int.from_bytes(head[4:8], "little") == 0b01, f"{pyc}: not unchecked-hash bytecode"


def test_built_distributions_are_the_versions_in_constraints(arm64_build):
    pins = _constraints()
    for name, folder in _artifacts(arm64_build).items():
        for dist, (version, _) in _distributions(folder).items():
            assert dist in pins, f"{name} ships {dist} {version}, which constraints.txt does not pin"
            assert version == pins[dist], f"{name} ships {dist} {version}; the tests ran {pins[dist]}"


def test_each_function_with_the_layer_has_every_requirement_and_nothing_twice(arm64_build):
    """Function requirements are installed with --no-deps (functions/Makefile): their lists must be complete."""
    layer = _distributions(arm64_build / "CommonLayer" / "python")
    for function in template.functions():
        own = _distributions(arm64_build / function.logical_id)
        twice = sorted(set(own) & set(layer))
        assert not twice, f"{function.logical_id} ships {twice}, which the layer ships already"
        available = {**layer, **own}
        for dist, (_, info) in available.items():
            metadata = (info / "METADATA").read_text(errors="replace")
            for line in re.findall(r"^Requires-Dist: (.+)$", metadata, re.M):
                requirement = Requirement(line)
                if requirement.marker and not requirement.marker.evaluate(LAMBDA_MARKERS):
                    continue
                needed = canonicalize_name(requirement.name)
                assert needed in available, f"{function.logical_id}: {dist} needs {needed}, shipped by neither it nor the layer"
                assert requirement.specifier.contains(available[needed][0], prereleases=True), \
                    f"{function.logical_id}: {dist} needs {requirement}, got {available[needed][0]}"


def test_what_one_function_uses_ships_with_that_function_only(arm64_build):
    layer = _distributions(arm64_build / "CommonLayer" / "python")
    assert not {"stripe", "pyjwt", "cryptography"} & set(layer), "the layer is every cold start's: keep these out"
    for function in template.functions():
        own = set(_distributions(arm64_build / function.logical_id))
        # the chat function charges auto top-ups from its settle (gateway_common/autotopup.py)
        assert ("stripe" in own) == (function.logical_id in ("PaymentsFunction", "StripeWebhookFunction", "ChatFunction")), \
            function
        assert ("pyjwt" in own) == (function.logical_id == "AuthFunction"), function


def test_layer_build_refuses_to_ship_without_bytecode_unless_told(tmp_path):
    """Without bytecode Lambda compiles the layer at every cold start (~0.6 s): the build stops and says what to do."""
    artifacts = tmp_path / "layer"
    artifacts.mkdir()
    # PYVER names a Python no machine has, so this holds where a python3.13 is installed too; the check comes first
    command = ["make", "--no-print-directory", "-C", str(ROOT / "layers" / "common"), "build-CommonLayer",
               f"ARTIFACTS_DIR={artifacts}", "PYVER=3.99"]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "no python3.99 here to compile the layer's bytecode" in result.stderr
    assert "sam build --use-container" in result.stderr and "ALLOW_NO_BYTECODE=1" in result.stderr
    assert list(artifacts.iterdir()) == [], "nothing may be installed before the refusal"


def test_function_build_ships_bytecode_that_lambda_uses_as_is(tmp_path):
    """Run as sam runs it: functions/Makefile in a copy of the function's directory. PYVER is this interpreter's
    version here, so this needs no 3.13."""
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
