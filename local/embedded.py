"""An embedded DynamoDB: moto in-process (or any endpoint in DYNAMODB_ENDPOINT_URL), with the template's tables."""

from __future__ import annotations

import os
from typing import Any

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "GATEWAY_ENV": "local",
}


def set_local_env() -> None:
    for name, value in LOCAL_ENV.items():
        os.environ.setdefault(name, value)


def start() -> Any:
    """Start moto unless an endpoint is configured; create the tables. Returns the mock to stop (or None)."""
    set_local_env()
    from . import moto_atomic, paths, tables

    paths.install()
    from gateway_common import db

    mock = None
    if not os.environ.get("DYNAMODB_ENDPOINT_URL"):
        from moto import mock_aws

        mock = mock_aws()
        mock.start()
    moto_atomic.install()
    db.reset_clients()
    tables.create_all(db.client())
    return mock
