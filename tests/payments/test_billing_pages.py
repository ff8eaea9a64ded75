"""The customer portal and invoices: Stripe pages for the caller's own Customer only."""

from __future__ import annotations

from gateway_common import users
from gateway_common.timeutil import now_ts
from tests.helpers import assert_error, bearer
from tests.payments import stripe_billing as sb
from tests.payments.test_subscriptions import subscribe


def test_portal_and_invoices_are_owner_only_and_paged(client, make_user, billing_api, deliver):
    owner, other = make_user(), make_user()
    sub = subscribe(client, deliver, owner, "pro")
    customer = users.require_user(owner["user_id"]).stripe_customer_id
    billing_api.invoices[customer] = [sb.invoice(sub, paid=True, created=int(now_ts()) - i * sb.MONTH) for i in range(5)]
    headers = bearer(owner["key"])

    portal = client.post("/billing/portal", headers=headers, json={"return_url": "https://example.com/account"})
    assert portal.status_code == 200, portal.text
    assert portal.json()["url"].startswith("https://billing.stripe.com/p/session/test_bps_")
    assert billing_api.calls["portal"][-1] == {"customer": customer, "return_url": "https://example.com/account"}

    first = client.get("/billing/invoices?limit=2", headers=headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [i["id"] for i in page["data"]] == [i["id"] for i in billing_api.invoices[customer][:2]]
    assert page["has_more"] is True and page["next_cursor"] == page["data"][-1]["id"]
    row = page["data"][0]
    assert row["amount_paid"] == 29.99 and row["status"] == "paid" and row["currency"] == "usd"
    assert row["number"].startswith("ABCD1234-") and row["hosted_invoice_url"].startswith("https://invoice.stripe.com/")
    assert row["invoice_pdf"].endswith("/pdf")
    rest = client.get(f"/billing/invoices?limit=10&starting_after={page['next_cursor']}", headers=headers).json()
    assert len(rest["data"]) == 3 and rest["has_more"] is False and rest["next_cursor"] is None
    assert {c["customer"] for c in billing_api.calls["invoice_list"]} == {customer}

    # another user: no billing account, so no portal and no invoices, even when naming the owner's invoice
    other_headers = bearer(other["key"])
    assert_error(client.post("/billing/portal", headers=other_headers), 404, "no billing account")
    theirs = client.get(f"/billing/invoices?starting_after={page['next_cursor']}", headers=other_headers)
    assert theirs.json() == {"success": True, "data": [], "has_more": False, "next_cursor": None}
    assert {c["customer"] for c in billing_api.calls["invoice_list"]} == {customer}  # Stripe never asked for theirs
    # ... and once they have a Customer of their own, Stripe is asked for that one only
    client.post("/billing/auto-topup/setup", headers=other_headers)
    other_customer = users.require_user(other["user_id"]).stripe_customer_id
    assert client.get("/billing/invoices", headers=other_headers).json()["data"] == []
    assert billing_api.calls["invoice_list"][-1]["customer"] == other_customer != customer
    assert client.post("/billing/portal", headers=other_headers).json()["url"]
    assert billing_api.calls["portal"][-1]["customer"] == other_customer


def test_billing_routes_need_a_key_and_valid_input(client, make_user, billing_api):
    person = make_user()
    assert client.post("/billing/portal").status_code == 401
    assert client.get("/billing/invoices").status_code == 401
    assert_error(client.get("/billing/invoices?limit=0", headers=bearer(person["key"])), 400, "limit")
    assert_error(client.get("/billing/invoices?starting_after=cus_123", headers=bearer(person["key"])), 400,
                 "starting_after")
    assert_error(client.post("/billing/portal", headers=bearer(person["key"]), json={"return_url": "javascript:x"}),
                 400, "https")
