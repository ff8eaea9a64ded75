"""Real servers on 127.0.0.1 for tests that need real HTTP: a moto DynamoDB server and the gateway under uvicorn."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from gateway_common import auth, db
from local import moto_atomic, tables


def bound_socket() -> socket.socket:
    """A loopback socket bound to port 0: the OS picks a free port and it stays ours (no pick-then-bind race)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto DynamoDB server on loopback with the template's tables; DYNAMODB_ENDPOINT_URL points at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # the OS picks the port while binding
    server.start()
    port = server.get_host_and_port()[1]
    moto_atomic.install()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its data per process, not per server: without a reset, an earlier module's users, keys and balances
    # (same process under xdist) would still be there, and the demo seed would find them instead of fresh ones.
    import httpx

    httpx.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
    previous = os.environ.get("DYNAMODB_ENDPOINT_URL")
    os.environ["DYNAMODB_ENDPOINT_URL"] = endpoint
    db.reset_clients()
    auth.clear_cache()
    try:
        tables.create_all(db.client())
        yield endpoint
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("DYNAMODB_ENDPOINT_URL", None)
        else:
            os.environ["DYNAMODB_ENDPOINT_URL"] = previous
        db.reset_clients()
        auth.clear_cache()


@contextmanager
def gateway_server(app: Any, log_level: str = "warning") -> Iterator[str]:
    """The gateway app served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):
        if server.started:
            started.set()
            break
        threading.Event().wait(0.01)
    if not started.is_set():
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


PROVIDER_KEYS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "PORTKEY_API_KEY",
                 "FEATHERLESS_API_KEY", "CHUTES_API_KEY")


@contextmanager
def without_provider_keys() -> Iterator[None]:
    """No provider configured (the sandbox answers, nothing can reach a real provider); the environment put back."""
    saved = {name: os.environ.pop(name) for name in PROVIDER_KEYS if name in os.environ}
    try:
        yield
    finally:
        for name in PROVIDER_KEYS:  # a key the test set itself goes too
            os.environ.pop(name, None)
        os.environ.update(saved)


@contextmanager
def demo_gateway() -> Iterator[dict[str, Any]]:
    """The local gateway on 127.0.0.1 over a moto server, seeded with the demo data: {"base": url, "keys": demo keys}."""
    from local import seed
    from local.gateway_app import build_app

    with without_provider_keys(), moto_server(), gateway_server(build_app()) as base:
        yield {"base": base, "keys": seed.seed_demo()}
