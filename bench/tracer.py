"""What Powertools Tracer would cost a cold start: the observability module's import with and without a Tracer.

Run: `.venv/bin/python -m bench.tracer [runs]`. The Tracer needs aws-xray-sdk, which the layer does not ship (the
dev venv has it, so this runs there). Fresh interpreters, interleaved, so machine noise hits both alike; where valgrind
is installed, also the instructions each executes (the same count on every run). The answer decides
gateway_common/observability.py: no Tracer, since Lambda's active tracing already records each invocation.
"""

from __future__ import annotations

import statistics
import sys

from bench.proxy import _fresh, import_instructions

BASE = "import gateway_common.observability, gateway_common.db, httpx"  # what every function imports anyway
TRACED = BASE + "; from aws_lambda_powertools import Tracer; Tracer(service='ai-gateway')"
UNPATCHED = BASE + "; from aws_lambda_powertools import Tracer; Tracer(service='ai-gateway', auto_patch=False)"
VARIANTS = {"observability": BASE, "+ Tracer": TRACED, "+ Tracer(auto_patch=False)": UNPATCHED}


def main(runs: int = 15) -> None:
    from local.paths import ROOT

    paths = f"import sys; sys.path[:0] = [{str(ROOT / 'layers' / 'common')!r}]"
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(runs):
        for name, statement in VARIANTS.items():
            code = f"{paths}; import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
            times[name].append(float(_fresh(sys.executable, code)))
    for name, values in times.items():
        print(f"{name:28} import median {statistics.median(values):6.1f} ms  min {min(values):6.1f} ms  ({runs} runs)")
    counts = {name: import_instructions(sys.executable, statement) for name, statement in VARIANTS.items()}
    base = counts["observability"]
    for name, count in counts.items():
        if count and base:
            print(f"{name:28} {count / 1e6:7.0f} M instructions (+{(count - base) / 1e6:.0f} M)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
