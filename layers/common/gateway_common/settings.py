"""Settings read once from the environment.

In AWS the template passes table names and parameter names as environment variables; secrets are fetched through
Powertools Parameters (see ``secrets.py``). Locally the same variables carry plain values. Defaults are the local ones,
so code and tests run with no environment at all.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import lru_cache

from pydantic import BaseModel, Field

# Logical table id in template.yaml -> environment variable holding its physical name.
TABLE_ENV = {
    "UsersTable": "USERS_TABLE",
    "ApiKeysTable": "API_KEYS_TABLE",
    "CountersTable": "COUNTERS_TABLE",
    "LedgerTable": "LEDGER_TABLE",
    "UsageTable": "USAGE_TABLE",
    "AuditTable": "AUDIT_TABLE",
    "RollupsTable": "ROLLUPS_TABLE",
    "StreamCheckpointsTable": "STREAM_CHECKPOINTS_TABLE",
    "ActivityTable": "ACTIVITY_TABLE",
    "BillingTable": "BILLING_TABLE",
    "ReservationsTable": "RESERVATIONS_TABLE",
    "ChatSessionsTable": "CHAT_SESSIONS_TABLE",
    "CatalogTable": "CATALOG_TABLE",
    "ResponsesTable": "RESPONSES_TABLE",
}


class Settings(BaseModel):
    environment: str = Field(default="local", description="local | aws")
    region: str = "us-east-1"
    dynamodb_endpoint_url: str | None = None
    key_cache_ttl_seconds: float = Field(default=30.0, ge=0, le=300)
    endpoint_limits_override: dict[str, dict[str, int]] = Field(default_factory=dict)
    tables: dict[str, str] = Field(default_factory=dict)
    # LLM proxy: fixed USD->EUR rate for EUR plans (catalog prices are USD), upstream timeout and retry backoff base.
    usd_to_eur: Decimal = Field(default=Decimal("0.92"), gt=0)
    upstream_timeout_seconds: float = Field(default=120.0, gt=0)
    upstream_backoff_seconds: float = Field(default=0.25, ge=0)
    # Subscriptions: how long a past_due subscription keeps its plan before the account drops to Free, and where
    # Stripe's hosted pages (Checkout, customer portal) send the customer back to when the request names no URL.
    past_due_grace_days: float = Field(default=3.0, ge=0, le=60)
    billing_return_url: str = "http://localhost:8000/"

    @property
    def is_local(self) -> bool:
        return self.environment != "aws"

    def table_name(self, logical_id: str) -> str:
        """Physical table name for a logical id of template.yaml (the logical id itself locally)."""
        return self.tables.get(logical_id, logical_id)


def _tables_from_env() -> dict[str, str]:
    names: dict[str, str] = {}
    for logical_id, env_name in TABLE_ENV.items():
        value = os.environ.get(env_name)
        if value:
            names[logical_id] = value
    # Any further table: GW_TABLE_<LogicalId>=name, so new groups need no change here.
    for env_name, value in os.environ.items():
        if env_name.startswith("GW_TABLE_") and value:
            names[env_name.removeprefix("GW_TABLE_")] = value
    return names


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    overrides = os.environ.get("GATEWAY_ENDPOINT_LIMITS")
    return Settings(
        environment=os.environ.get("GATEWAY_ENV", "local"),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        dynamodb_endpoint_url=os.environ.get("DYNAMODB_ENDPOINT_URL") or None,
        key_cache_ttl_seconds=float(os.environ.get("KEY_CACHE_TTL_SECONDS", "30")),
        endpoint_limits_override=json.loads(overrides) if overrides else {},
        tables=_tables_from_env(),
        usd_to_eur=Decimal(os.environ.get("USD_TO_EUR_RATE", "0.92")),
        upstream_timeout_seconds=float(os.environ.get("UPSTREAM_TIMEOUT_SECONDS", "120")),
        upstream_backoff_seconds=float(os.environ.get("UPSTREAM_BACKOFF_SECONDS", "0.25")),
        past_due_grace_days=float(os.environ.get("PAST_DUE_GRACE_DAYS", "3")),
        billing_return_url=os.environ.get("BILLING_RETURN_URL") or "http://localhost:8000/",
    )
