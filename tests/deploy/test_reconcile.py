"""ops/reconcile.py, the runbook's balance = ledger - usage check, finds a balance moved without a ledger entry."""

from __future__ import annotations

from decimal import Decimal

from gateway_common import db, users
from gateway_common.settings import TABLE_ENV, get_settings
from ops import reconcile


def test_reconcile_passes_on_a_consistent_stack_and_names_the_user_whose_balance_moved_alone(demo, monkeypatch, capsys):
    for logical_id, env_name in TABLE_ENV.items():  # restored after the test: use_stage sets them
        monkeypatch.setenv(env_name, logical_id)
    monkeypatch.setenv("GATEWAY_ENV", "local")
    try:
        assert reconcile.main(["--stage", ""]) == 0
        assert capsys.readouterr().out.strip().endswith(f"{len({d['user_id'] for d in demo.values()})} users checked, 0 off")
        db.client().transact_write_items(TransactItems=[users.credit_update(demo["live"]["user_id"], Decimal("0.01"))])
        assert reconcile.main(["--stage", ""]) == 1
        out = capsys.readouterr().out
        assert f"{demo['live']['user_id']}: balance 25.01" in out and "off by 0.01" in out
    finally:
        get_settings.cache_clear()


def test_stage_table_names_are_the_templates():
    reconcile.use_stage("prod")
    try:
        assert db.table_name("LedgerTable") == "ai-gateway-prod-ledger"
        assert db.table_name("ApiKeysTable") == "ai-gateway-prod-api-keys"
    finally:
        reconcile.use_stage("")
        get_settings.cache_clear()
