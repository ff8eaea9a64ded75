"""Code shared by every function of the gateway (the Lambda layer)."""

import sys

__version__ = "2.1.0"

# httpx's package imports its command-line tool (httpx._main), and with it click, whenever click is installed (the chat
# function ships click for uvicorn): ~9 ms of every cold start for a tool no function runs. Marked absent, httpx falls
# back to the stub it uses when click is not installed (tests/unit/test_cold_start.py).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
