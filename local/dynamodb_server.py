"""The local DynamoDB as its own process: a moto server on loopback, as DynamoDB is its own service in AWS.

``make run`` starts it (``spawn``) so moto's work never shares the gateway's interpreter, GIL or CPU profile: the
gateway then pays what it pays in AWS, an HTTP round trip per call. moto is patched as in the tests (``moto_atomic``:
item-atomic writes, transactions bounded by the items they touch). The process exits with its parent.

Run alone: ``python -m local.dynamodb_server PORT``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time

from .processes import Child, exit_with_parent, free_port, spawn_module

READY_TIMEOUT_SECONDS = 30


def serve(port: int) -> None:
    from moto.server import ThreadedMotoServer

    from . import moto_atomic

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per DynamoDB call otherwise
    moto_atomic.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    threading.Event().wait()


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
