"""The local DynamoDB's environment and tables: the template's tables in whatever endpoint ``DYNAMODB_ENDPOINT_URL``
names (``make run``'s moto server), or in moto in this process (``start``: benches that inspect moto's state)."""

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


def create_tables() -> list[str]:
    """Create the template's tables that do not exist yet in the configured endpoint; returns the names created."""
    set_local_env()
    from . import paths, tables

    paths.install()
    from gateway_common import db

    db.reset_clients()
    return tables.create_all(db.client())


def start() -> Any:
    """moto in this process unless an endpoint is configured, with the tables. Returns the mock to stop (or None)."""
    set_local_env()
    from . import moto_atomic

    mock = None
    if not os.environ.get("DYNAMODB_ENDPOINT_URL"):
        from moto import mock_aws

        mock = mock_aws()
        mock.start()
    moto_atomic.install()
    create_tables()
    return mock
