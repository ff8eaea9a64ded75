"""Boot a built function as Lambda boots it, on this machine.

- The Lambda Runtime API (``next`` / ``response`` / ``error``, and ``init/error``) served on 127.0.0.1 by ``RuntimeApi``.
- A fresh Python 3.13 process in a private mount namespace (``unshare -m``): the function's artifact at /var/task, the
  layer at /opt (so its ``python/`` is /opt/python), the runtime interface client at /var/runtime, and the interpreter
  in an empty venv at /var/lang, all four read-only as in Lambda. ``sys.path`` is /var/task, /opt/python,
  /var/runtime and the standard library: a dependency missing from the artifact or the layer, or one only the dev venv
  has, fails to import.
- The real ``awslambdaric`` (PyPI), as the python3.13 runtime runs it: ``python -m awslambdaric <handler>``.
- Init duration: from the process start to its first ``next`` call (interpreter, runtime client, handler module), in
  wall time and in the process's CPU time (on a shared machine the wall time mostly measures the neighbours).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.paths import ROOT

PREFIX = "/2018-06-01/runtime"
MOUNTS = "/var/task", "/var/runtime", "/var/lang"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A function process killed at the end of a test drops its open `next` call: that is no error."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class RuntimeApi:
    """A minimal Lambda Runtime API: one invocation at a time, as Lambda gives them to one execution environment."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.pending: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.results: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self.first_next: float | None = None
        self.ready = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._answer(404)
                    return
                if api.first_next is None:
                    api.first_next = time.monotonic()
                    api.ready.set()
                request_id, body = api.pending.get()
                self._answer(200, body, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:us-east-1:123456789012:function:{api.function_name}",
                    "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                })

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.results.put(("init", "error", body))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    api.results.put((parts[1], parts[2], body))
                else:
                    self._answer(404)
                    return
                self._answer(202, b'{"status":"OK"}')

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: dict[str, Any], process: subprocess.Popen[bytes], timeout: float = 60) -> tuple[str, Any]:
        """("response", payload) or ("error", error document); raises when the process dies or says nothing."""
        request_id = str(uuid.uuid4())
        self.pending.put((request_id, json.dumps(event).encode()))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rid, kind, body = self.results.get(timeout=0.2)
            except queue.Empty:
                if process.poll() is not None:
                    raise AssertionError(f"{self.function_name} exited ({process.returncode}) during an invocation") from None
                continue
            if rid == "init":
                raise AssertionError(f"{self.function_name} failed its init: {body.decode()[:2000]}")
            assert rid == request_id, (rid, request_id)
            return kind, json.loads(body) if body else None
        raise AssertionError(f"{self.function_name} did not answer within {timeout} s")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc): on a loaded machine the init figure that holds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def install_runtime_client(dest: Path, python: str) -> Path:
    """awslambdaric (and what it needs) for this machine's 3.13, pinned by constraints.txt, as Lambda's /var/runtime."""
    if not (dest / "awslambdaric").exists():
        arch = os.uname().machine
        subprocess.run(
            ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", "--target",
             str(dest), "--platform", f"manylinux2014_{arch}", "--implementation", "cp", "--python-version", "3.13",
             "--only-binary=:all:", "-r", str(ROOT / "tests" / "deploy" / "runtime-requirements.txt"),
             "-c", str(ROOT / "constraints.txt")], check=True, capture_output=True, timeout=600)
        subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(dest)],
                       check=True, capture_output=True, timeout=600)
    return dest


def make_interpreter(dest: Path, python: str) -> Path:
    """An empty venv over the 3.13 interpreter: the standard library and nothing else (Lambda's /var/lang)."""
    if not (dest / "bin" / "python3.13").exists():
        subprocess.run([python, "-m", "venv", "--without-pip", str(dest)], check=True, capture_output=True, timeout=120)
    return dest


def _namespace() -> list[str]:
    if shutil.which("unshare") is None:
        raise AssertionError("util-linux's unshare is needed to mount the artifacts where Lambda has them")
    return ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]


def lambda_command(task: Path, layer: Path, runtime: Path, lang: Path, command: str) -> list[str]:
    """``command`` (shell) in a mount namespace where the paths are Lambda's: /var/task, /opt, /var/runtime, /var/lang."""
    script = (
        "set -e; mount -t tmpfs none /var; mkdir -p /var/task /var/runtime /var/lang; "
        f"mount --bind '{task}' /var/task; mount --bind '{runtime}' /var/runtime; mount --bind '{lang}' /var/lang; "
        f"mount --bind '{layer}' /opt; "
        # read-only, as Lambda's are: nothing can write bytecode (or anything else) there at run time
        "for d in /var/task /var/runtime /var/lang /opt; do mount -o remount,bind,ro $d; done; "
        f"cd /var/task; {command}"
    )
    return [*_namespace(), "sh", "-c", script]


def lambda_env(variables: dict[str, str], function_name: str, memory: int, api: str | None = None) -> dict[str, str]:
    env = {
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LANG": "en_US.UTF-8", "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "PYTHONPATH": "/var/task:/opt/python:/var/runtime",  # what the python3.13 runtime puts on sys.path
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function_name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}", "AWS_LAMBDA_LOG_STREAM_NAME": "boot-test",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "boot", "AWS_SECRET_ACCESS_KEY": "boot", "AWS_SESSION_TOKEN": "boot",
        **variables,
    }
    if api:
        env["AWS_LAMBDA_RUNTIME_API"] = api
    return env


@contextmanager
def booted(name: str, task: Path, layer: Path, runtime: Path, lang: Path, handler: str, env: dict[str, str],
           log: Path) -> Iterator[tuple[RuntimeApi, subprocess.Popen[bytes], tuple[float, float]]]:
    """Start the function as the python3.13 runtime does; once it asks for work, yields (api, process, init) where
    init is (wall seconds, CPU seconds) from the process start to its first ``next``."""
    api = RuntimeApi(name)
    command = lambda_command(task, layer, runtime, lang, f"exec /var/lang/bin/python3.13 -m awslambdaric '{handler}'")
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env={**env, "AWS_LAMBDA_RUNTIME_API": api.address}, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        while not api.ready.wait(0.05):
            if process.poll() is not None or time.monotonic() - started > 60:
                break
        if not api.ready.is_set():
            try:
                _, _, body = api.results.get(timeout=1)
                detail = body.decode()[:2000]
            except queue.Empty:
                detail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{name} did not start (exit {process.poll()}): {detail}")
        assert api.first_next is not None
        yield api, process, (api.first_next - started, cpu_seconds(process.pid))  # blocked in `next`: CPU stands still
    finally:
        process.kill()
        process.wait(timeout=10)
        api.close()
