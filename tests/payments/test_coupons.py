"""Coupons: admin CRUD, what each type grants, refusals that say why, and atomic max_uses (acceptance 2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from gateway_common import coupons, ledger, users
from gateway_common.timeutil import iso, utcnow
from tests.helpers import assert_error, bearer
from tests.payments import stripe_fakes as sf


def _create(client, admin_key: str, **fields):
    body = {"code": "WELCOME10", "discount_type": "fixed", "discount_value": 10, **fields}
    return client.post("/coupons", headers=bearer(admin_key), json=body)


def test_admin_creates_lists_and_users_read_coupons(client, demo):
    admin = demo["admin"]["key"]
    created = _create(client, admin, code="welcome10", discount_type="percentage", max_uses=100,
                      valid_to="2099-12-31T23:59:59Z", description="Welcome discount")
    assert created.status_code == 200, created.text
    coupon = created.json()["coupon"]
    assert coupon["code"] == "WELCOME10" and coupon["uses_count"] == 0 and coupon["is_active"] is True
    assert coupon["discount_value"] == 10.0 and "off your next credit purchase" in coupon["grants"]
    assert_error(_create(client, admin, code="WELCOME10"), 409, "already exists")
    _create(client, admin, code="OLD5", discount_value=5, is_active=False)

    listed = client.get("/coupons", headers=bearer(admin)).json()
    assert listed["total"] == 2 and {c["code"] for c in listed["data"]} == {"WELCOME10", "OLD5"}
    active = client.get("/coupons?is_active=true&limit=1&offset=0", headers=bearer(admin)).json()
    assert active["total"] == 1 and [c["code"] for c in active["data"]] == ["WELCOME10"]
    assert client.get("/coupons?offset=5", headers=bearer(admin)).json()["data"] == []

    public = client.get("/coupons/welcome10", headers=bearer(demo["live"]["key"]))
    assert public.status_code == 200 and public.json()["coupon"]["description"] == "Welcome discount"
    assert "uses_count" not in public.json()["coupon"]
    assert_error(client.get("/coupons/NOPE", headers=bearer(demo["live"]["key"])), 404, "NOPE")
    # a code longer than any coupon's is not looked up (a DynamoDB key over 2 KB is a ValidationException) nor echoed
    huge = assert_error(client.get("/coupons/" + "A" * 3000, headers=bearer(demo["live"]["key"])), 404, "at most 32")
    assert "AAAA" not in huge["detail"]


def test_coupon_admin_routes_need_the_admin_role_and_valid_bodies(client, demo):
    assert_error(_create(client, demo["live"]["key"]), 403, "admin")
    assert_error(client.get("/coupons", headers=bearer(demo["live"]["key"])), 403, "admin")
    admin = demo["admin"]["key"]
    assert_error(_create(client, admin, discount_type="bogus"), 400, "discount_type")
    assert_error(_create(client, admin, discount_value=-1), 400, "discount_value")
    assert_error(_create(client, admin, discount_type="percentage", discount_value=100), 400, "below 100")
    assert_error(_create(client, admin, valid_to="tomorrow"), 400, "valid_to", "iso 8601")
    assert_error(_create(client, admin, valid_to="9999-12-31T23:59:59-01:00"), 400, "valid_to", "iso 8601")
    assert_error(_create(client, admin, valid_to="0999-01-01T00:00:00Z"), 400, "valid_to", "between 1970 and 9999")
    assert client.get("/coupons", headers=bearer(admin)).json()["total"] == 0  # nothing written by the refusals
    assert_error(_create(client, admin, valid_from="2030-01-02T00:00:00Z", valid_to="2030-01-01T00:00:00Z"), 400, "after")
    assert_error(_create(client, admin, code="has space"), 400, "code")


def test_fixed_coupon_adds_credits_once_per_user(client, demo):
    _create(client, demo["admin"]["key"], code="FIVE", discount_value=5)
    headers = bearer(demo["live"]["key"])
    applied = client.post("/coupons/apply", headers=headers, json={"code": "five"})
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"success": True, "message": "Coupon applied successfully: 5 credits added to your balance",
                              "discount_type": "fixed", "discount_amount": 5.0, "credits_added": 5.0, "new_balance": 30.0}
    assert_error(client.post("/coupons/apply", headers=headers, json={"code": "FIVE"}), 409, "already applied")
    assert users.require_user(demo["live"]["user_id"]).credits == Decimal("30.00")
    assert coupons.require("FIVE").uses_count == 1
    entries = [e["entry_id"] for e in ledger.entries(demo["live"]["user_id"])]
    assert [e for e in entries if e.startswith("coupon:")] == ["coupon:FIVE"]


def test_expired_inactive_future_and_used_up_coupons_say_why(client, demo, make_user):
    admin = demo["admin"]["key"]
    now = utcnow()
    _create(client, admin, code="PAST", valid_to=iso(now - timedelta(days=1)))
    _create(client, admin, code="LATER", valid_from=iso(now + timedelta(days=1)))
    _create(client, admin, code="OFF", is_active=False)
    _create(client, admin, code="ONCE", max_uses=1)
    headers = bearer(demo["live"]["key"])
    assert_error(client.post("/coupons/apply", headers=headers, json={"code": "PAST"}), 400, "expired on")
    assert_error(client.post("/coupons/apply", headers=headers, json={"code": "LATER"}), 400, "not valid yet")
    assert_error(client.post("/coupons/apply", headers=headers, json={"code": "OFF"}), 400, "no longer active")
    assert_error(client.post("/coupons/apply", headers=headers, json={"code": "MISSING"}), 404, "does not exist")
    assert client.post("/coupons/apply", headers=headers, json={"code": "ONCE"}).status_code == 200
    other = make_user()
    assert_error(client.post("/coupons/apply", headers=bearer(other["key"]), json={"code": "ONCE"}), 409, "maximum of 1 uses")
    assert users.require_user(other["user_id"]).credits == Decimal("0")


def test_fifty_parallel_applications_of_max_uses_ten_admit_exactly_ten(client, demo, make_user):
    _create(client, demo["admin"]["key"], code="RUSH", discount_value=3, max_uses=10)
    people = [make_user() for _ in range(50)]

    def apply(person):
        return client.post("/coupons/apply", headers=bearer(person["key"]), json={"code": "RUSH"})

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(apply, people))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(ok) == 10
    assert all(r.status_code == 409 and "maximum of 10 uses" in r.json()["detail"] for r in refused)
    assert coupons.require("RUSH").uses_count == 10
    credited = [p for p in people if users.require_user(p["user_id"]).credits == Decimal("3")]
    assert len(credited) == 10
    assert all(users.require_user(p["user_id"]).credits == 0 for p in people if p not in credited)


def test_percentage_coupon_discounts_the_next_purchase_and_credits_the_full_amount(client, demo, make_user, deliver):
    import respx

    _create(client, demo["admin"]["key"], code="TENOFF", discount_type="percentage", discount_value=10)
    buyer = make_user()
    headers = bearer(buyer["key"])
    applied = client.post("/coupons/apply", headers=headers, json={"code": "TENOFF"}).json()
    assert applied["credits_added"] == 0.0 and applied["discount_amount"] == 10.0 and applied["new_balance"] == 0.0
    _create(client, demo["admin"]["key"], code="TWENTYOFF", discount_type="percentage", discount_value=20)
    assert_error(client.post("/coupons/apply", headers=headers, json={"code": "TWENTYOFF"}), 409, "already hold")
    assert coupons.require("TWENTYOFF").uses_count == 0  # the refused application left no trace

    fake = sf.FakeStripeApi()
    with respx.mock() as mock:
        mock.post(f"{sf.API}/v1/checkout/sessions").mock(side_effect=fake.checkout)
        quote = client.post("/api/stripe/checkout", headers=headers,
                            json={"amount": 50, "success_url": "https://example.com/ok"}).json()
    assert quote["amount"] == 50.0 and quote["amount_charged"] == 45.0 and quote["coupon_code"] == "TENOFF"
    assert fake.requests[0]["line_items[0][price_data][unit_amount]"] == "4500"
    assert fake.requests[0]["metadata[credits]"] == "50.00" and fake.requests[0]["metadata[coupon_code]"] == "TENOFF"

    pi = sf.new_pi()
    session = sf.checkout_session(buyer["user_id"], cents=4500, pi=pi, credits="50.00", coupon="TENOFF")
    deliver(sf.event("checkout.session.completed", session))
    deliver(sf.event("payment_intent.succeeded", sf.payment_intent(buyer["user_id"], cents=4500, pi=pi, credits="50.00",
                                                                   coupon="TENOFF")))
    assert users.require_user(buyer["user_id"]).credits == Decimal("50.00")
    amounts = {e["entry_id"]: e["amount"] for e in ledger.entries(buyer["user_id"])}
    assert amounts == {f"stripe:{pi}": Decimal("45.00"), "coupon:TENOFF": Decimal("5.00")}
    assert coupons.pending_discount(buyer["user_id"]) is None  # used once
    # a full refund takes back everything the payment gave, the coupon's share included
    deliver(sf.event("charge.refunded", sf.charge(pi, cents=4500, refunded_cents=4500)))
    assert users.require_user(buyer["user_id"]).credits == Decimal("0.00")
