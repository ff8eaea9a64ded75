"""Without Chromium the browser tests skip and the run says so loudly; CI installs Chromium (and npm) first."""

from __future__ import annotations

import os
import subprocess
import sys

from local.paths import ROOT


def test_without_chromium_the_browser_tests_skip_and_the_run_ends_with_a_loud_banner():
    env = {**os.environ, "CHROMIUM_PATH": str(ROOT / "no-such-chromium")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-rs", "--no-header",
                             "tests/web/test_dashboard.py::test_first_load_is_under_300_kb_compressed"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-2000:]
    assert "1 skipped" in out and "BROWSER TESTS NOT RUN: Chromium is not installed" in out
    banner = out.index("BROWSER TESTS (tests/web) DID NOT RUN")
    assert "apt-get install -y chromium" in out[banner:] and "the dashboard is untested in this run" in out[banner:]


def test_ci_installs_chromium_and_npm_from_debian_before_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")]).returncode == 0
    install = script.index('apt-get install -y -q --no-install-recommends "${missing[@]}"')
    assert "missing+=(chromium)" in script[:install] and "missing+=(npm)" in script[:install]
    assert script.rstrip().endswith("make test") and install < script.index("make test")
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
