"""User records: unique emails under concurrency, claim items never mistaken for users."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway_common import users
from gateway_common.errors import Conflict


def test_an_email_belongs_to_one_user_even_under_concurrent_sign_ups(dynamo):
    def create(i: int) -> str:
        try:
            return users.create_user(username=f"u{i}", email="Same@Example.com", plan_id=1).user_id
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(create, range(10)))
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1 and outcomes.count("conflict") == 9
    found = users.find_by_email("same@example.com")
    assert found is not None and found.user_id == winners[0] and found.email == "same@example.com"


def test_claim_items_are_not_users(dynamo):
    users.create_user(username="a", email="a@example.com", plan_id=1)
    assert users.get_user(users.email_claim_id("a@example.com")) is None
    with pytest.raises(Exception, match="does not exist"):
        users.require_user(users.email_claim_id("a@example.com"))
    assert users.find_by_email("nobody@example.com") is None
