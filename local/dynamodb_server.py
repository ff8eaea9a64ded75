"""The local DynamoDB as its own process: a moto server on loopback, as DynamoDB is its own service in AWS.

``make run`` starts it (``spawn``) so moto's work never shares the gateway's interpreter, GIL or CPU profile: the
gateway then pays what it pays in AWS, an HTTP round trip per call. moto is patched as in the tests (``moto_atomic``:
item-atomic writes, transactions bounded by the items they touch). The process exits with its parent.

Run alone: ``python -m local.dynamodb_server PORT``.
"""

from __future__ import annotations

import gc
import io
import os
import socket
import sys
import time
from typing import Any

from .processes import Child, exit_with_parent, free_port, spawn_module

READY_TIMEOUT_SECONDS = 30


class HeapFreezer:
    """Keeps CPython's full garbage collections of this process short. The local DynamoDB's heap only grows (every
    stored item, stream record and index entry is objects), and a full collection walks all of it on whichever call
    is running: measured, pauses of 45 ms after a few thousand chat completions and 320 ms after 15,000, the whole
    tail of the latency. Every ``every`` calls the young generations are collected and what survived is frozen
    (``gc.freeze``: left out of later collections), so a full collection walks only what came since. Measured over 70 s
    of sequential completions (jobs every 20 s): p99.9 255 -> 48 ms, the longest 534 -> 123 ms. Frozen objects are
    never freed: the store keeps them anyway, and garbage cycles rarely outlive the young collections."""

    def __init__(self, every: int = 250) -> None:
        self.every = every
        self.calls = 0

    def tick(self) -> None:
        self.calls += 1
        if self.calls % self.every == 0:
            gc.collect(1)
            gc.freeze()


class InlineWSGI:
    """moto's server app, served on the event loop itself for DynamoDB's item calls, one at a time. moto is pure Python
    under one GIL, so uvicorn's WSGI adapter (a thread pool and a queue per request) bought no parallelism, only
    hand-offs: about a tenth of this process's CPU. Other calls (the rollup job's stream reads, scans, table
    management) can take long and run in a worker thread, so the GIL's switching lets item calls through meanwhile
    instead of waiting behind them. Requests are small JSON bodies, answered whole.

    Calls of a JSON-protocol service (an ``X-Amz-Target`` header, ``POST /``: DynamoDB and its streams) go straight
    to moto's handler for the service, as moto's Flask view would call it (``handler_response``); moto's dispatcher
    looked the backend up anew on every request (a listing of moto's modules among it) and Flask's request and
    response cycle wrapped it: together a fifth of this process's CPU. Anything else goes through moto's dispatcher
    and Flask, as before. ``tests/unit/test_dynamodb_server.py`` checks that both answer alike."""

    JSON_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1")
    INLINE = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems",
                        "TransactGetItems", "BatchGetItem", "BatchWriteItem"})

    def __init__(self, dispatcher: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.dispatcher = dispatcher
        self.handlers: dict[str, Any] = {}  # X-Amz-Target's service prefix -> moto's handler (or None: use Flask)
        self.urls: dict[tuple[str, str], str] = {}  # (scheme, host) -> the URL of POST / there
        self.workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="moto-slow")
        self.heap = HeapFreezer()

    def handler_for(self, environ: dict[str, Any]) -> Any:
        """moto's handler for a JSON-protocol call, found through moto's own dispatcher and URL map once per service;
        None for any other request."""
        service = str(environ.get("HTTP_X_AMZ_TARGET", "")).partition(".")[0]
        if not service or environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/":
            return None
        if service not in self.handlers:
            from werkzeug.exceptions import HTTPException

            app = self.dispatcher.get_application(environ)
            try:
                endpoint, _ = app.url_map.bind_to_environ(environ).match()
            except HTTPException:  # no route for it: moto's Flask app answers (its 404 or 405), now and later
                self.handlers[service] = None
            else:
                self.handlers[service] = getattr(app.view_functions[endpoint], "callback", None)
        return self.handlers[service]

    def handler_response(self, handler: Any, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """What moto's Flask view (``moto.core.utils.convert_to_flask_response``) answers, without Flask: the same
        request class, the same call, a ClientError as its 400, and the headers Flask's Response would add."""
        from botocore.exceptions import ClientError
        from moto.moto_api import recorder
        from moto.moto_server.werkzeug_app import BackendRequest

        request = BackendRequest(environ)
        body = environ["wsgi.input"]
        if isinstance(body, io.BytesIO) and str(environ.get("CONTENT_TYPE", "")).startswith(self.JSON_TYPES):
            # what werkzeug's form parsing gives a JSON body (the raw bytes, no form, no files), without running it: a
            # third of moto's request set-up
            from werkzeug.datastructures import ImmutableMultiDict

            request.__dict__.update(data=body.getvalue(), form=ImmutableMultiDict(),
                                    files=ImmutableMultiDict())
        try:
            recorder._record_request(request)
            result = handler(request, self.raw_url(request, environ), dict(request.headers))
        except ClientError as error:
            result = 400, {}, error.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        payload = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        fields = [(str(k), str(v)) for k, v in headers.items() if k.lower() not in ("content-length", "status")]
        if not any(k.lower() == "content-type" for k, _ in fields):
            fields.append(("Content-Type", "text/html; charset=utf-8"))  # Flask's default
        fields.append(("Content-Length", str(len(payload))))
        return int(status), fields, payload

    def raw_url(self, request: Any, environ: dict[str, Any]) -> str:
        """The request's URL as moto's Request gives it (werkzeug rebuilds it on every call, 3% of this process's
        CPU): for ``POST /`` without a query it depends on the scheme and host only, so it is built once for each."""
        if environ.get("QUERY_STRING"):
            return str(request.raw_url)
        key = (environ["wsgi.url_scheme"], environ.get("HTTP_HOST", ""))
        url = self.urls.get(key)
        if url is None:
            url = self.urls[key] = str(request.raw_url)
        return url

    @staticmethod
    def wsgi_response(app: Any, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer[:] = [int(status.split(" ", 1)[0]), headers]

        chunks = app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return answer[0], answer[1], payload

    def respond(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        handler = self.handler_for(environ)
        if handler is not None:
            return self.handler_response(handler, environ)
        return self.wsgi_response(self.dispatcher, environ)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import asyncio

        from uvicorn.middleware.wsgi import build_environ

        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        environ = build_environ(scope, message, io.BytesIO(body))  # type: ignore[arg-type]
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("DynamoDB_") and target.rpartition(".")[2] in self.INLINE:
            status, headers, payload = self.respond(environ)
        else:
            status, headers, payload = await asyncio.get_running_loop().run_in_executor(self.workers, self.respond,
                                                                                        environ)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers]})
        await send({"type": "http.response.body", "body": payload})
        self.heap.tick()  # after the answer is on its way


def serve(port: int) -> None:
    """moto's server app behind uvicorn, which keeps connections alive as DynamoDB does: moto's own server (werkzeug)
    closes every connection, so each call would pay a TCP connect in the gateway (about a tenth of its CPU). No
    proxy-headers middleware (8% of this process's CPU), no access log."""
    import uvicorn
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from . import moto_atomic

    moto_atomic.install()
    app = InlineWSGI(DomainDispatcherApplication(create_backend_app))
    gc.freeze()  # moto's and uvicorn's modules: never garbage
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off",
                proxy_headers=False, server_header=False)


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
