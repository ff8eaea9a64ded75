"""The SAM builds the deploy tests read: built once per session and architecture, whichever worker asks first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy import builds


@pytest.fixture(scope="session")
def arm64_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """What deploys: arm64 artifacts (wheels for aarch64, Python 3.13 bytecode)."""
    return builds.build("arm64", builds.session_dir(tmp_path_factory, worker_id)) / "out"


@pytest.fixture(scope="session")
def x86_64_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The same template built for x86_64 (Architecture=x86_64, ARCH=x86_64), so the boot test can run it here."""
    return builds.build("x86_64", builds.session_dir(tmp_path_factory, worker_id)) / "out"
