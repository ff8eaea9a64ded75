"""ops/reconcile.py, the runbook's reconciliation: it passes on a stack the gateway itself wrote (prepaid and AI-included
accounts, settled requests and open holds) and names each figure moved on its own."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest

from gateway_common import auth, catalog, db, names, ratelimit, users
from gateway_common.settings import TABLE_ENV, get_settings
from gateway_common.timeutil import now_ts, shift_clock
from gw_chat import logic
from ops import reconcile

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "one two three"}], "max_tokens": 50}
PROVIDER_KEYS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "PORTKEY_API_KEY",
                 "FEATHERLESS_API_KEY", "CHUTES_API_KEY")


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


@pytest.fixture
def traffic(client, demo, stage_env, monkeypatch) -> dict[str, Any]:
    """Settled requests of a prepaid account (credits) and an AI-included one (the month's budget), answered by the
    local sandbox, and one open hold each: requests admitted whose invocation has not settled yet."""
    for name in PROVIDER_KEYS:  # no real provider: the local sandbox answers, and charges
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_PARAM", raising=False)
    get_settings.cache_clear()
    catalog.clear_cache()
    live = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {demo['live']['key']}"}, json=CHAT)
    assert live.status_code == 200, live.text
    pro = client.post("/api/chat", headers={"X-License-Key": demo["license_pro"]["key"]},
                      json={**CHAT, "model": "gpt-4o-mini", "api_provider": "openai"})
    assert pro.status_code == 200, pro.text
    assert Decimal(str(pro.json()["cost_eur"])) > 0
    assert users.require_user(demo["live"]["user_id"]).credits < Decimal("25.00")  # charged to credits
    holds = {
        "live": logic.begin(auth.authenticate(f"Bearer {demo['live']['key']}", None), endpoint="/v1/chat/completions",
                            body=dict(CHAT)),
        "pro": logic.begin(auth.authenticate(None, demo["license_pro"]["key"]), endpoint="/api/chat", body=dict(CHAT)),
    }
    assert holds["live"].reservation.mode == "credits" and holds["pro"].reservation.mode == "budget"
    return {"demo": demo, "holds": holds, "month": ratelimit.window_bounds("month", now_ts())[0]}


def _add(user_id: str, **values: Any) -> None:
    """Move figures on an account item on their own, as no gateway code path does."""
    db.table(users.USERS).update_item(
        Key={"user_id": user_id}, UpdateExpression="ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(values))),
        ExpressionAttributeNames={f"#a{i}": name for i, name in enumerate(values)},
        ExpressionAttributeValues={f":v{i}": value for i, value in enumerate(values.values())})


def test_a_stack_the_gateway_wrote_reconciles_with_open_holds_and_an_ai_included_account(traffic, capsys):
    """The AI-included account's usage is taken from its budget, not its balance: counting it against the ledger
    would call every such account off."""
    assert reconcile.main(["--stage", ""]) == 0
    users_seeded = len({d["user_id"] for d in traffic["demo"].values()})
    out = capsys.readouterr().out
    assert out.strip().splitlines() == [f"{users_seeded} users checked, 0 off, 2 open holds, 0 past retention"], out


def test_reconcile_names_the_user_whose_balance_moved_alone(demo, stage_env, capsys):
    db.client().transact_write_items(TransactItems=[users.credit_update(demo["live"]["user_id"], Decimal("0.01"))])
    assert reconcile.main(["--stage", ""]) == 1
    out = capsys.readouterr().out
    assert f"{demo['live']['user_id']}: balance 25.01" in out and "off by 0.01" in out
    assert out.strip().endswith("1 off, 0 open holds, 0 past retention")


@pytest.mark.parametrize("moved", ["budget", "reserved", "holds_due", "marker", "spend_cost", "spend_requests", "plan"])
def test_each_figure_moved_alone_is_named(traffic, moved):
    live, pro = traffic["demo"]["live"]["user_id"], traffic["demo"]["license_pro"]["user_id"]
    month = traffic["month"]
    if moved == "budget":
        _add(pro, **{names.budget_attribute(month): Decimal("0.01")})
        expected = f"{pro}: budget used in {month} "
    elif moved == "reserved":  # the balance is unchanged: only the split between available and reserved is wrong
        _add(live, available=Decimal("-0.01"), reserved=Decimal("0.01"))
        expected = f"{live}: reserved "
    elif moved == "holds_due":  # the account left the sweep's index while it holds money: nobody would release it
        db.table(users.USERS).update_item(Key={"user_id": live}, UpdateExpression="REMOVE holds_due")
        expected = f"{live}: hold {traffic['holds']['live'].request_id} of "
    elif moved == "marker":  # a hold named by its request id alone (taken before holds had fields) needs its marker
        request_id = traffic["holds"]["live"].request_id
        item = db.table(users.USERS).get_item(Key={"user_id": live})["Item"]
        name = next(n for n in item if n.startswith(names.hold_attribute(request_id)))
        db.table(users.USERS).update_item(
            Key={"user_id": live}, UpdateExpression="REMOVE #new SET #old = :amount",
            ExpressionAttributeNames={"#new": name, "#old": names.hold_attribute(request_id)},
            ExpressionAttributeValues={":amount": item[name]})
        expected = f"{live}: hold {request_id} of "
    elif moved == "spend_cost":
        _add(pro, **{names.spend_attribute("cost", month): Decimal("0.01")})
        expected = f"{pro}: spend in {month}: "
    elif moved == "spend_requests":
        _add(live, **{names.spend_attribute("requests", month): 1})
        expected = f"{live}: spend in {month}: "
    else:  # a usage record whose plan is gone cannot be placed in credits or budget
        record = next(db.query_items("UsageTable", KeyConditionExpression="user_id = :u",
                                     ExpressionAttributeValues={":u": pro}))
        db.table("UsageTable").put_item(Item={**record, "sk": record["sk"] + "x", "plan_id": 999})
        expected = f"{pro}: usage record {record['request_id']} names plan 999"
    report = reconcile.reconcile()
    assert len(report.off) == 1 and report.off[0].startswith(expected), report.off
    assert report.off_users == {expected.split(":")[0]}


def test_accounts_whose_usage_may_have_expired_are_counted_apart_not_called_off(traffic):
    shift_clock(401 * 86400)  # the month's usage records have reached their TTL: their costs cannot be summed
    report = reconcile.reconcile()
    assert report.off == [] and report.past_retention == 2 and report.open_holds == 2
    _add(traffic["demo"]["live"]["user_id"], available=Decimal("-0.01"), reserved=Decimal("0.01"))
    assert reconcile.reconcile().off_users == {traffic["demo"]["live"]["user_id"]}  # holds are still checked


def test_stage_table_names_are_the_templates(stage_env):
    reconcile.use_stage("prod")
    assert db.table_name("LedgerTable") == "ai-gateway-prod-ledger"
    assert db.table_name("ApiKeysTable") == "ai-gateway-prod-api-keys"
    assert os.environ["GATEWAY_ENV"] == "aws"  # what the stage's functions run as; the fixture puts it back
