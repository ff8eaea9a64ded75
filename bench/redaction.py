"""What the redaction filter costs per log line and per error message: ``redact`` on a typical JSON log line (no
secret), on an upstream error that echoes a key, and the credential-shape regex alone (the floor), interleaved.

Run: ``.venv/bin/python -m bench.redaction``. Prints microseconds per call (median of 15 interleaved rounds).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

KEYS = {name: f"sk-{name.lower()[:6]}-" + "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0" for name in (
    "OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "PORTKEY_API_KEY",
    "FEATHERLESS_API_KEY", "CHUTES_API_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")}
LOG_LINE = ('{"level":"INFO","location":"record:81","message":"audit","timestamp":"2026-12-03 13:55:35,821+0000",'
            '"service":"ai-gateway","request_id":"req_78d66657a92af4b1","action":"api_key_created",'
            '"resource_type":"api_key","path":"POST /user/api-keys","xray_trace_id":"1-6750a1b2-0123456789abcdef01234567"}')
ERROR = "openai (HTTP 401): Incorrect API key provided: " + KEYS["OPENAI_API_KEY"][:28] + "****. You can find your key"


def _per_call(fn: Callable[[], object], n: int = 2000) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    os.environ.update(KEYS)
    from local import paths

    paths.install()
    from gateway_common import redaction

    cases: dict[str, Callable[[], object]] = {
        "shape regex only (floor), log line": lambda: redaction._SHAPES.sub("[redacted]", LOG_LINE),
        "redact(), log line without a secret": lambda: redaction.redact(LOG_LINE),
        "redact(), upstream error echoing 28 chars of a key": lambda: redaction.redact(ERROR),
    }
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(15):  # interleaved: machine load hits every case alike
        for name, fn in cases.items():
            rounds[name].append(_per_call(fn))
    print(f"redaction with {len(KEYS)} configured secrets ({len(LOG_LINE)}-char log line):")
    for name, values in rounds.items():
        print(f"  {name:<55} {statistics.median(values):8.1f} us/call")
    assert "[provider key]" in redaction.redact(ERROR) and KEYS["OPENAI_API_KEY"][:28] not in redaction.redact(ERROR)


if __name__ == "__main__":
    main()
