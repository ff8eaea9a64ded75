"""``make run``: the whole gateway on http://127.0.0.1:$PORT with a local DynamoDB and demo data.

Three processes, as the deployed stack has three kinds of thing: the gateway (every function's routes in one uvicorn
app), DynamoDB (a moto server on loopback, ``local.dynamodb_server``) and the scheduled jobs (``local.job_runner``).
A DynamoDB endpoint already in ``DYNAMODB_ENDPOINT_URL`` is used instead of starting one.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from . import embedded
from .paths import ROOT
from .processes import Child, spawn_module

# GATEWAY_KEYS_FILE moves it (tests that start servers in parallel each use their own file).
KEYS_FILE = Path(os.environ.get("GATEWAY_KEYS_FILE") or ROOT / ".gateway" / "dev-keys.json")


def start_dynamodb() -> list[Child]:
    """The local DynamoDB server (unless an endpoint is configured), with the template's tables."""
    children = []
    if not os.environ.get("DYNAMODB_ENDPOINT_URL"):
        from . import dynamodb_server

        child, endpoint = dynamodb_server.spawn(int(os.environ["DYNAMODB_PORT"]) if os.environ.get("DYNAMODB_PORT") else None)
        os.environ["DYNAMODB_ENDPOINT_URL"] = endpoint  # this process and the job runner talk to it
        children.append(child)
    embedded.create_tables()
    return children


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket()  # bound before anything else: PORT=0 lets the OS pick, and the line below tells which
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    port = int(listener.getsockname()[1])
    embedded.set_local_env()
    children = start_dynamodb()
    try:
        from . import gateway_app, job_trigger, seed

        keys = seed.seed_demo()
        KEYS_FILE.parent.mkdir(parents=True, exist_ok=True)
        KEYS_FILE.write_text(json.dumps(keys, indent=2) + "\n")
        KEYS_FILE.chmod(0o600)
        base = f"http://{host}:{port}"
        print(f"\nAI gateway (local) on {base}   dashboard: {base}/   docs: {base}/docs   keys saved to {KEYS_FILE}")
        print(f"  DynamoDB (moto server, own process): {os.environ['DYNAMODB_ENDPOINT_URL']}")
        for name, info in keys.items():
            print(f"  {name:<16} {info['key']}   ({info['about']})")
        print(f'\n  curl -H "Authorization: Bearer {keys["live"]["key"]}" {base}/user/balance\n', flush=True)

        import uvicorn

        from gateway_common.redaction import install_log_filters

        install_log_filters()  # a key in a URL (GET /api/usage/{license_key}) never reaches the access log
        children.append(spawn_module("local.job_runner"))
        app = gateway_app.build_app()
        app.include_router(job_trigger.router)  # POST /local/jobs/<LogicalId>: `make rollup`
        # As the chat function's run.sh: no proxy-headers middleware (client_ip reads X-Forwarded-For itself) and
        # httptools/uvloop where installed (UVICORN_HTTP=h11 / UVICORN_LOOP=asyncio to compare).
        config = uvicorn.Config(app, host=host, port=port, log_level=os.environ.get("LOG_LEVEL", "info").lower(),
                                proxy_headers=False, server_header=False,
                                http=os.environ.get("UVICORN_HTTP", "auto"),  # type: ignore[arg-type]
                                loop=os.environ.get("UVICORN_LOOP", "auto"))  # type: ignore[arg-type]
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        for child in reversed(children):
            child.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
