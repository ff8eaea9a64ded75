"""The local DynamoDB as its own process: a moto server on loopback, as DynamoDB is its own service in AWS.

``make run`` starts it (``spawn``) so moto's work never shares the gateway's interpreter, GIL or CPU profile: the
gateway then pays what it pays in AWS, an HTTP round trip per call. moto is patched as in the tests (``moto_atomic``:
item-atomic writes, transactions bounded by the items they touch). The process exits with its parent.

Run alone: ``python -m local.dynamodb_server PORT``.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from .processes import Child, exit_with_parent, free_port, spawn_module

READY_TIMEOUT_SECONDS = 30


def serve(port: int) -> None:
    """moto's server app behind uvicorn, which keeps connections alive as DynamoDB does: moto's own server (werkzeug)
    closes every connection, so each call would pay a TCP connect in the gateway (about a tenth of its CPU)."""
    import warnings

    import uvicorn
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from . import moto_atomic

    moto_atomic.install()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # uvicorn's WSGI adapter: enough for a local server
        from uvicorn.middleware.wsgi import WSGIMiddleware

        app = WSGIMiddleware(DomainDispatcherApplication(create_backend_app), workers=16)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def spawn(port: int | None = None) -> tuple[Child, str]:
    """Start the DynamoDB server; returns it and its endpoint URL once it accepts connections."""
    port = port or free_port()
    child = spawn_module("local.dynamodb_server", str(port))
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        if child.process.poll() is not None:
            raise RuntimeError(f"the local DynamoDB server exited with status {child.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                child.stop()
                raise RuntimeError(f"the local DynamoDB server did not listen on port {port} within "
                                   f"{READY_TIMEOUT_SECONDS} s") from None
            time.sleep(0.05)  # waiting for a process to start
    return child, f"http://127.0.0.1:{port}"


if __name__ == "__main__":
    exit_with_parent(os.getppid())
    serve(int(sys.argv[1]))
