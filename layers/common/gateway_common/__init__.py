"""Code shared by every function of the gateway (the Lambda layer)."""

import os
import sys

__version__ = "2.1.0"

# httpx's package imports its command-line tool (httpx._main), and with it click, whenever click is installed (the chat
# function ships click for uvicorn): ~9 ms of every cold start for a tool no function runs. Marked absent, httpx falls
# back to the stub it uses when click is not installed (tests/unit/test_cold_start.py).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# FastAPI imports OpenTelemetry for its native telemetry (off here: the gateway observes itself through Powertools), and
# OpenTelemetry's propagate module looks its default propagators up among every installed distribution's entry points
# at import: ~55 M instructions (~3%) of the chat function's cold import on 3.13, for context propagation nothing uses.
# "none" is OpenTelemetry's own setting for no propagators; a value set in the environment is kept.
os.environ.setdefault("OTEL_PROPAGATORS", "none")
