"""Helper processes of ``make run`` (the DynamoDB server, the scheduled jobs): started in their own session, stopped
by the runner, and gone with it even when it is killed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from .paths import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exit_with_parent(parent_pid: int) -> None:
    """Stop this process when the process that started it is gone (even killed), so no orphan keeps a port."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)  # a liveness poll, not a timing
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    name: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_module(module: str, *args: str, env: dict[str, str] | None = None) -> Child:
    """``python -m module args`` in its own session (Ctrl-C reaches only ``make run``, which then stops it)."""
    process = subprocess.Popen(  # noqa: S603 - our own modules, run with this interpreter
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, start_new_session=True
    )
    return Child(process, module)
