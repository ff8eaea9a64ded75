"""ops/reconcile.py, the runbook's balance = ledger - usage check, finds a balance moved without a ledger entry."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from gateway_common import db, users
from gateway_common.settings import TABLE_ENV, get_settings
from ops import reconcile


@pytest.fixture
def stage_env(monkeypatch):
    """use_stage and main set the table names, GATEWAY_ENV and the region: put them all back afterwards."""
    for logical_id, env_name in TABLE_ENV.items():
        monkeypatch.setenv(env_name, logical_id)
    for name in ("GATEWAY_ENV", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, os.environ.get(name, "local" if name == "GATEWAY_ENV" else "us-east-1"))
    yield
    get_settings.cache_clear()
    db.reset_clients()


def test_reconcile_passes_on_a_consistent_stack_and_names_the_user_whose_balance_moved_alone(demo, stage_env, capsys):
    assert reconcile.main(["--stage", ""]) == 0
    users_seeded = len({d["user_id"] for d in demo.values()})
    assert capsys.readouterr().out.strip().endswith(f"{users_seeded} users checked, 0 off")
    db.client().transact_write_items(TransactItems=[users.credit_update(demo["live"]["user_id"], Decimal("0.01"))])
    assert reconcile.main(["--stage", ""]) == 1
    out = capsys.readouterr().out
    assert f"{demo['live']['user_id']}: balance 25.01" in out and "off by 0.01" in out


def test_stage_table_names_are_the_templates(stage_env):
    reconcile.use_stage("prod")
    assert db.table_name("LedgerTable") == "ai-gateway-prod-ledger"
    assert db.table_name("ApiKeysTable") == "ai-gateway-prod-api-keys"
    assert os.environ["GATEWAY_ENV"] == "aws"  # what the stage's functions run as; the fixture puts it back
