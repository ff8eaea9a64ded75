"""The dashboard in real headless Chromium against a real gateway: what a customer and an admin do every day."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import secrets
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from local.paths import ROOT
from tests.web.conftest import AXE, DESKTOP, PHONE, Gateway, show, sign_in

PAGES = ["overview", "keys", "usage", "billing", "models", "playground", "admin"]
# Committed screenshots (shown in the README) are rewritten with UPDATE_SCREENSHOTS=1; other runs write under .gateway/
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else ROOT / ".gateway" / "screenshots"


def balance(page: Any) -> Decimal:
    show(page, "overview")
    page.wait_for_selector("#balance")
    return Decimal(page.get_attribute("#balance", "data-value"))


def test_sign_in_with_the_live_key_shows_25_and_keeps_the_key_in_session_storage_only(new_page, gateway: Gateway):
    page = new_page()
    page.goto("/")
    page.keyboard.press("Tab")  # the skip link, then the key field: usable from the keyboard
    page.get_by_label("API key", exact=True).focus()
    page.keyboard.type(gateway.keys["live"]["key"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#balance")
    assert page.inner_text("#balance").startswith("25.00")
    assert page.get_attribute("#balance", "data-value") in ("25.0", "25")
    storage = page.evaluate("() => [JSON.stringify(sessionStorage), JSON.stringify(localStorage), location.href]")
    assert gateway.keys["live"]["key"] in storage[0] and gateway.keys["live"]["key"] not in storage[1] + storage[2]
    assert page.get_by_role("link", name="Admin").count() == 0

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=Signed out.")
    assert page.evaluate("() => sessionStorage.getItem('gw.key')") is None
    page.reload()
    page.get_by_label("API key", exact=True).wait_for()  # still signed out after a reload
    assert page.evaluate("() => sessionStorage.length") == 0


def test_a_wrong_key_stays_on_sign_in_with_the_api_message(new_page, gateway: Gateway):
    page = new_page()
    page.goto("/")
    page.get_by_label("API key", exact=True).fill("gw_live_not-a-real-key-0000000000000000000")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "key" in alert.inner_text().lower()
    assert page.evaluate("() => sessionStorage.getItem('gw.key')") is None


def _curl(gateway: Gateway, key: str, path: str) -> int:
    """The status curl gets for GET path with the key, as a user would try a new key (curl is Debian's, as is Chromium)."""
    if not shutil.which("curl"):  # pragma: no cover - curl is in every image these tests run in
        with gateway.http(key) as http:
            return http.get(path).status_code
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {key}",
                             f"{gateway.base}{path}"], capture_output=True, text=True, timeout=30, check=True)
    return int(result.stdout)


def test_create_a_key_shown_once_that_works_with_curl_then_rename_and_revoke_it(new_page, gateway: Gateway):
    page = new_page()
    sign_in(page, gateway.keys["live"]["key"])
    page.goto("/#/keys")
    page.get_by_label("Name", exact=True).fill("browser-made key")
    page.get_by_label("Environment").select_option("live")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_selector("#new-key")
    raw = page.inner_text("#new-key").strip()
    assert raw.startswith("gw_live_")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("dialog").get_by_role("button", name="Copy").click()
    page.get_by_role("dialog").get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == raw
    assert _curl(gateway, raw, "/user/balance") == 200
    page.get_by_role("button", name="I have saved it").click()
    row = page.locator("tr", has_text="browser-made key")
    row.wait_for()
    assert raw not in page.content()  # listed masked; never shown again
    assert row.locator("code").inner_text().startswith("gw_live_") and "…" in row.locator("code").inner_text()

    row.get_by_role("button", name="Rename browser-made key").click()
    page.get_by_role("dialog").get_by_label("New name").fill("renamed key")
    page.get_by_role("dialog").get_by_role("button", name="Rename").click()
    row = page.locator("tr", has_text="renamed key")
    row.wait_for()
    assert page.locator("tr", has_text="browser-made key").count() == 0

    row.get_by_role("button", name="Deactivate renamed key").click()
    page.get_by_role("dialog").wait_for()
    page.keyboard.press("Escape")  # every action asks first; Escape (or Cancel) changes nothing
    assert page.get_by_role("dialog").count() == 0 and row.get_by_text("inactive").count() == 0
    assert _curl(gateway, raw, "/user/balance") == 200
    row.get_by_role("button", name="Deactivate renamed key").click()
    page.get_by_role("dialog").get_by_role("button", name="Deactivate").click()
    page.locator("tr", has_text="renamed key").get_by_text("inactive").wait_for()
    assert _curl(gateway, raw, "/user/balance") == 401

    page.locator("tr", has_text="renamed key").get_by_role("button", name="Delete renamed key").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.locator("tr", has_text="renamed key").wait_for(state="detached")


def test_stream_a_playground_answer_the_balance_drops_by_its_reported_cost_and_todays_bar_appears(new_page, gateway: Gateway):
    page = new_page()
    sign_in(page, gateway.keys["live"]["key"])
    before = balance(page)
    page.goto("/#/playground")
    page.get_by_label("Model").select_option("openai/gpt-4o-mini")
    page.get_by_label("System prompt (optional)").fill("Answer briefly.")
    page.get_by_label("Your message").fill("Say hello to the dashboard test, please.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#answer-cost")
    assert "Sandbox reply" in page.inner_text("#answer")  # no provider key here: the built-in model answered
    assert "tokens" in page.inner_text("#answer-meta")
    cost = Decimal(page.get_attribute("#answer-cost", "data-cost"))
    assert cost > 0
    assert balance(page) == before - cost

    show(page, "usage")  # the call is in the activity log, and in its CSV export
    page.locator("td", has_text="openai/gpt-4o-mini").first.wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    csv = download.value.path().read_text()
    assert csv.startswith("timestamp,event_type,model") and "api_call,openai/gpt-4o-mini,sandbox" in csv

    with gateway.http(gateway.keys["live"]["key"]) as http:  # a second model today: its own segment of the same bar
        other = http.post("/v1/chat/completions", json={"model": "anthropic/claude-3.5-sonnet", "max_tokens": 20,
                                                        "messages": [{"role": "user", "content": "Hi"}]})
        assert other.status_code == 200, other.text
    result = gateway.rollup()
    assert result["result"]["records"] >= 2
    show(page, "overview")
    today = datetime.now(UTC).date().isoformat()
    bar = page.locator(f"svg.chart g.bar[data-date='{today}']")
    bar.wait_for()
    assert float(bar.get_attribute("data-total")) >= 2
    segments = {r.get_attribute("data-model"): r for r in bar.locator("rect").all()}
    assert {"openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"} <= set(segments)
    boxes = [segments[m].bounding_box() for m in ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet")]
    assert boxes[0]["x"] == boxes[1]["x"] and boxes[0]["y"] != boxes[1]["y"]  # stacked: one column, one above the other
    assert segments["openai/gpt-4o-mini"].get_attribute("fill") != segments["anthropic/claude-3.5-sonnet"].get_attribute("fill")
    legend = page.get_by_role("list", name="Models").inner_text()
    assert "openai/gpt-4o-mini" in legend and "anthropic/claude-3.5-sonnet" in legend
    page.get_by_role("button", name="Cost").click()
    assert page.locator(f"svg.chart[data-metric='cost'] g.bar[data-date='{today}'] rect").count() >= 1


def test_models_search_and_a_sandbox_stream_shown_token_by_token_then_stopped(new_page, gateway: Gateway, monkeypatch):
    """The catalog's search and filters; with a test key the playground says it is the sandbox, the answer shows while
    the stream is still open (held after its first words here), and Stop ends it."""
    from gateway_common.providers import sandbox

    page = new_page()
    sign_in(page, gateway.keys["test"]["key"])
    assert page.get_by_role("banner").get_by_text("sandbox", exact=True).count() == 1
    show(page, "models")
    everything = page.inner_text("#model-count")
    total = int(everything.split(" of ")[1].split()[0])
    page.get_by_label("Search").fill("gpt-4o-mini")
    page.wait_for_function("t => document.querySelector('#model-count').innerText !== t", arg=everything)
    rows = page.locator("tbody tr")
    assert 0 < rows.count() < total and all("gpt-4o-mini" in t.lower() for t in rows.all_inner_texts())
    page.get_by_label("Search").fill("")
    page.get_by_label("Provider").select_option("anthropic")
    providers = {t.strip() for t in page.locator("td[data-label='Provider']").all_inner_texts()}
    assert providers == {"anthropic"} and page.locator("tbody tr").count() < total
    assert page.locator("td[data-label='Input / M tokens']").first.inner_text().startswith("$")

    gate = threading.Event()
    original = sandbox.stream

    async def held(request: dict[str, Any]) -> Any:  # the sandbox's own chunks, held after the first words
        async for chunk in original(request):
            yield chunk
            if any(choice["delta"].get("content") for choice in chunk.get("choices", [])):
                await asyncio.to_thread(gate.wait, 60)

    monkeypatch.setattr(sandbox, "stream", held)
    try:
        show(page, "playground")
        assert "This is a test key: the sandbox" in page.locator("main").inner_text()
        page.get_by_label("Your message").fill("Tell me a long story, please.")
        page.get_by_role("button", name="Send").click()
        page.wait_for_function("() => document.querySelector('#answer').innerText.trim().length > 0")
        first = page.inner_text("#answer")
        stop = page.get_by_role("button", name="Stop")
        assert stop.is_enabled() and page.get_by_role("button", name="Send").is_disabled()  # still streaming
        stop.click()
        page.locator("#answer-meta").get_by_text("Stopped.").wait_for()
        assert page.inner_text("#answer") == first and page.get_by_role("button", name="Send").is_enabled()
    finally:
        gate.set()


def test_the_activity_log_pages_filters_and_exports_without_spreadsheet_formulas(new_page, gateway: Gateway):
    _, key = _new_user(gateway)
    with gateway.http(key) as http:
        for i in range(27):
            assert http.post("/activity/log", json={"event_type": "login", "event_data": {"n": i}}).status_code == 200
        formula = '=HYPERLINK("http://evil.example","click")'
        markup = '<img src=x onerror="window.pwned=1">'
        assert http.post("/activity/log", json={"event_type": "settings_changed",
                                                "event_data": {"status": formula, "model": markup}}).status_code == 200
    page = new_page()
    sign_in(page, key)
    show(page, "usage")
    pager = page.get_by_role("navigation", name="Pages of results")
    assert pager.inner_text().split("\n")[1] == "Page 1 of 2 (28)" and page.locator("tbody tr").count() == 25
    pager.get_by_role("button", name="Next").click()
    page.get_by_text("Page 2 of 2 (28)").wait_for()
    assert page.locator("tbody tr").count() == 3

    log = page.get_by_role("form", name="Filter the activity log")
    log.get_by_label("Event type").fill("settings_changed")
    log.get_by_role("button", name="Apply filters").click()
    page.wait_for_function("() => document.querySelectorAll('tbody tr').length === 1")
    assert page.locator("td[data-label='Status']").inner_text() == formula
    assert page.locator("td[data-label='Model']").inner_text() == markup  # shown as text, never run as markup
    assert page.locator("main img").count() == 0 and page.evaluate("() => window.pwned") is None
    with page.expect_download() as download:
        log.get_by_role("button", name="Export CSV").click()
    lines = download.value.path().read_text().splitlines()
    assert len(lines) == 2 and lines[1].split(",")[1] == "settings_changed"
    assert ",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\"," in lines[1]  # text in a spreadsheet, not a formula
    log.get_by_label("Event type").fill("nothing_like_this")
    log.get_by_role("button", name="Apply filters").click()
    page.get_by_text("No activity matches these filters.").wait_for()


def test_an_admin_grants_credits_and_the_user_sees_them_after_a_reload(new_page, gateway: Gateway):
    user = new_page()
    sign_in(user, gateway.keys["live"]["key"])
    before = balance(user)
    admin = new_page()
    sign_in(admin, gateway.keys["admin"]["key"])
    admin.get_by_role("link", name="Admin").click()
    grant = admin.get_by_role("form", name="Grant credits")
    grant.get_by_label("User").select_option(gateway.keys["live"]["user_id"])
    grant.get_by_label("Credits").fill("5")
    grant.get_by_label("Reason (kept in the audit log)").fill("browser test goodwill")
    grant.get_by_role("button", name="Grant credits").click()
    admin.get_by_text("New balance").wait_for()
    user.reload()
    user.wait_for_selector("#balance")
    assert Decimal(user.get_attribute("#balance", "data-value")) == before + 5
    audit = admin.get_by_role("form", name="Filter the audit log")
    audit.get_by_label("Action").fill("credits_added")
    audit.get_by_role("button", name="Apply filters").click()
    admin.get_by_text("browser test goodwill").first.wait_for()


def test_an_admin_creates_a_user_and_sets_then_removes_a_rate_limit_override(new_page, gateway: Gateway):
    admin = new_page()
    sign_in(admin, gateway.keys["admin"]["key"])
    show(admin, "admin")
    create = admin.get_by_role("form", name="Create a user")
    email = f"eve-{secrets.token_hex(4)}@example.com"
    create.get_by_label("Username").fill("Eve")
    create.get_by_label("Email").fill(email)
    create.get_by_label("Welcome credits").fill("7")
    create.get_by_role("button", name="Create user").click()
    key = create.locator("code.secret").inner_text()
    with gateway.http(key) as http:
        assert http.get("/user/balance").json()["credits"] == 7

    show(admin, "admin")  # the lists are read when the page renders
    limits = admin.get_by_role("region", name="Rate-limit overrides")
    limits.get_by_label("User", exact=True).select_option(label="Eve")
    limits.get_by_text("Source: plan").wait_for()
    limits.get_by_label("Per minute").fill("0")
    limits.get_by_label("Reason", exact=True).fill("browser test: paused")
    limits.get_by_role("button", name="Save override").click()
    limits.get_by_text("Source: override").wait_for()
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    with gateway.http(key) as http:
        assert http.post("/v1/chat/completions", json=body).status_code == 429
    limits.get_by_label("Reason for removing").fill("browser test: resumed")
    limits.get_by_role("button", name="Remove override").click()
    limits.get_by_text("Source: plan").wait_for()
    with gateway.http(key) as http:
        assert http.post("/v1/chat/completions", json=body).status_code == 200


def test_a_non_admin_does_not_see_the_admin_pages_and_the_api_refuses_them(new_page, gateway: Gateway):
    page = new_page()
    sign_in(page, gateway.keys["live"]["key"])
    assert page.get_by_role("navigation", name="Pages").get_by_role("link", name="Admin").count() == 0
    page.goto("/#/admin")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "admin role" in alert.inner_text()
    assert page.get_by_role("form", name="Grant credits").count() == 0
    with gateway.http(gateway.keys["live"]["key"]) as http:
        for path in ("/admin/monitor", "/admin/audit-logs", "/roles"):
            assert http.get(path).status_code == 403, path
        refused = http.post("/admin/add_credits", json={"user_id": gateway.keys["live"]["user_id"], "credits": 1, "reason": "x"})
        assert refused.status_code == 403


def test_a_revoked_session_goes_to_sign_in_and_a_429_says_when_to_retry(new_page, gateway: Gateway):
    with gateway.http(gateway.keys["admin"]["key"]) as admin:
        made = admin.post("/admin/create", json={"username": "limited", "email": "limited@example.com"}).json()
        assert admin.post("/admin/rate-limits", json={"user_id": made["user_id"], "requests_per_minute": 0,
                                                       "reason": "browser test: blocked"}).status_code == 200
    page = new_page()
    sign_in(page, made["api_key"])
    page.goto("/#/playground")
    page.get_by_label("Your message").fill("hello")
    page.get_by_role("button", name="Send").click()
    alert = page.locator("#answer-meta").get_by_role("alert")
    alert.wait_for()
    assert "Retry in" in alert.inner_text()
    assert "Retry in" in page.locator("#banner").inner_text()

    with gateway.http(made["api_key"]) as http:
        key_id = http.get("/user/api-keys").json()["data"][0]["id"]
        assert http.delete(f"/user/api-keys/{key_id}").status_code == 200
    page.goto("/#/keys")
    page.get_by_label("API key", exact=True).wait_for()
    assert "Signed out" in page.locator("main").inner_text()


def test_the_overview_shows_held_credits_and_still_shows_when_usage_current_refuses(new_page, gateway: Gateway):
    """GET /api/usage/current allows 10 a minute per account: past that only its card says so, with the retry time."""
    from tests.helpers import hold_credits

    key = _fresh_account(gateway)
    with gateway.http(key) as http:
        statuses = [http.get("/api/usage/current").status_code for _ in range(11)]
    assert statuses[-1] == 429
    hold_credits(key, Decimal("1.50"))  # a request in flight holds credits
    page = new_page()
    sign_in(page, key)
    month = page.get_by_role("region", name="This month")
    assert "Retry in" in month.get_by_role("alert").inner_text()
    assert page.inner_text("#balance").startswith("24.99") and page.locator("svg.chart g.bar rect").count() == 1
    balance_card = page.get_by_role("region", name="Balance").inner_text()
    assert "Available 23.49" in balance_card and "held by requests in flight 1.50 USD" in balance_card, balance_card


def test_privy_sign_in_where_configured_and_hidden_where_not(new_page, gateway: Gateway, monkeypatch):
    from tests.accounts.privy_tokens import APP_ID, make_signer

    page = new_page()
    page.goto("/")
    page.get_by_label("API key", exact=True).wait_for()
    assert page.locator("#privy").count() == 0  # no PRIVY_APP_ID here

    signer = make_signer()
    monkeypatch.setenv("PRIVY_APP_ID", APP_ID)
    monkeypatch.setenv("PRIVY_VERIFICATION_KEY", signer.public_pem)
    calls: list[str] = []

    def privy(route: Any) -> None:  # Privy's API, answered here: no traffic leaves the machine
        body = {"success": True} if route.request.url.endswith("/init") else {
            "token": signer.token("did:privy:browser", email="browser@example.com")}
        cors = {"Access-Control-Allow-Origin": gateway.base, "Access-Control-Allow-Headers": "content-type, privy-app-id",
                "Access-Control-Allow-Methods": "POST"}
        if route.request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
            return
        calls.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", headers=cors, body=json.dumps(body))

    page.route("https://auth.privy.io/**", privy)
    seen_app_ids: list[str | None] = []

    def seen(request: Any) -> None:
        if "auth.privy.io" in request.url and request.method == "POST":
            seen_app_ids.append(request.headers.get("privy-app-id"))

    page.on("request", seen)
    page.reload()
    page.locator("#privy").get_by_label("Email", exact=True).fill("browser@example.com")
    page.get_by_role("button", name="Email me a code").click()
    page.get_by_label("Code from the email").fill("123456")
    page.locator("#privy").get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#balance")
    assert [u.rsplit("/", 1)[1] for u in calls] == ["init", "authenticate"] and seen_app_ids == [APP_ID, APP_ID]
    assert page.evaluate("() => sessionStorage.getItem('gw.key')").startswith("gw_live_")


def test_a_license_key_sees_its_budget_with_the_apis_80_percent_warnings_and_its_usage_history(new_page, gateway: Gateway):
    from gw_license.usage_logic import BUDGET_WARNING, REQUESTS_WARNING
    from tests.helpers import seed_month

    seed_month(gateway.keys["license_pro"]["user_id"], 800, Decimal("3.30"))  # this month so far: 80% and 82.5%
    page = new_page()
    sign_in(page, gateway.keys["license_pro"]["key"])
    budget = page.get_by_role("progressbar", name="Budget: 82.5 % used")
    assert budget.count() == 1 and "3.30 of 4.00 EUR" in page.locator("main").inner_text()
    assert "high" in budget.get_attribute("class")
    warnings = page.locator("main .notice.warn").all_inner_texts()
    assert warnings == [REQUESTS_WARNING, BUDGET_WARNING]  # in the API's own words
    show(page, "usage")
    history = page.get_by_role("region", name="Usage history (license)")
    history.wait_for()
    assert "requests" in history.inner_text() and "30 days" in history.inner_text()


def test_a_key_created_with_caps_lists_them(new_page, gateway: Gateway):
    page = new_page()
    sign_in(page, gateway.keys["live"]["key"])
    show(page, "keys")
    page.get_by_label("Name", exact=True).fill("capped key")
    page.get_by_text("Caps (optional").click()
    page.get_by_label("Monthly budget").fill("5")
    page.get_by_label("Allowed models").fill("openai/gpt-4o-mini, anthropic/*")
    page.get_by_label("Tokens per minute").fill("1000")
    page.get_by_label("Expires on").fill("2099-01-31")
    page.get_by_role("button", name="Create key").click()
    raw = page.inner_text("#new-key").strip()
    page.get_by_role("button", name="I have saved it").click()
    row = page.locator("tr", has_text="capped key")
    caps = row.locator("td[data-label='Caps']").inner_text()
    assert "budget 5.00 / month" in caps and "models anthropic/*, openai/gpt-4o-mini" in caps, caps
    assert "tokens/min 1,000" in caps and "expires 2099-01-31" in caps and "spent 0.00" in caps, caps
    assert row.locator("td[data-label='Last used']").inner_text() == "not in 92 days"

    with gateway.http(raw) as http:  # the caps the form sent are the ones admission enforces
        ask = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}
        refused = http.post("/v1/chat/completions", json={**ask, "model": "deepseek/deepseek-chat"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "key_model_not_allowed", refused.text
        answered = http.post("/v1/chat/completions", json={**ask, "model": "openai/gpt-4o-mini"})
        assert answered.status_code == 200, answered.text
    gateway.rollup()  # last use is read from the rollups
    show(page, "keys")
    today = datetime.now(UTC).date().isoformat()
    assert page.locator("tr", has_text="capped key").locator("td[data-label='Last used']").inner_text() == \
        f"{today}\n1 request in 30 days"
    spent = page.locator("tr", has_text="capped key").locator("td[data-label='Caps'] .tag", has_text="spent")
    assert spent.inner_text() != "spent 0.00", spent.inner_text()
    assert page.locator("tr", has_text="Demo live key").locator("td[data-label='Caps']").inner_text() == "none"


def test_billing_says_plainly_without_stripe_then_redirects_to_checkout_with_it(new_page, gateway: Gateway, monkeypatch):
    """Coupon, trial, referral code and the plans with the current one marked; buying credits or a plan says plainly
    that payments are off without Stripe, and goes to Stripe Checkout (the URL Stripe's API gave) with it."""
    import respx

    from tests.payments import stripe_fakes as sf

    user_id, key = _new_user(gateway)
    with gateway.http(gateway.keys["admin"]["key"]) as admin:
        code = f"WEB{secrets.token_hex(3).upper()}"
        assert admin.post("/coupons", json={"code": code, "discount_type": "fixed", "discount_value": 3}).status_code == 200
    page = new_page()
    sign_in(page, key)
    show(page, "billing")
    plans = page.get_by_role("region", name="Plans")
    assert plans.locator("tr", has_text="your plan").locator("td").first.inner_text().startswith("Free")
    assert plans.get_by_role("button", name="Subscribe to Pro", exact=True).count() == 1
    assert "No subscription" in page.inner_text("#subscription") and page.inner_text("#referral-code").strip()

    page.get_by_role("button", name="Continue to payment").click()
    assert "Payments are not set up" in page.get_by_role("form", name="Buy credits").get_by_role("status").inner_text()
    plans.get_by_role("button", name="Subscribe to Pro", exact=True).click()
    page.get_by_text("Payments are not set up").nth(1).wait_for()

    page.get_by_label("Coupon code").fill(code)
    page.get_by_role("form", name="Apply a coupon").get_by_role("button", name="Apply").click()
    page.get_by_role("form", name="Apply a coupon").get_by_role("status").wait_for()
    page.get_by_role("button", name="Start the trial").click()
    trial = page.get_by_role("region", name="Trial")
    trial.get_by_text("active", exact=True).wait_for()
    assert "10.00 USD of 10.00 USD trial credits left" in trial.inner_text()
    assert page.get_by_role("region", name="Credits").inner_text().startswith("Credits\n\n38.00 USD")  # 25 + coupon 3 + trial 10

    fake = sf.FakeStripeApi()
    monkeypatch.setenv("STRIPE_SECRET_KEY", sf.SECRET_KEY)
    page.route("https://checkout.stripe.com/**", lambda route: route.fulfill(  # Stripe's page: nothing leaves here
        status=200, content_type="text/html", body="<title>Stripe Checkout</title><h1>Pay</h1>"))
    with respx.mock() as mock:
        mock.post(f"{sf.API}/v1/checkout/sessions").mock(side_effect=fake.checkout)
        page.get_by_label("Amount (USD)").fill("12.50")
        page.get_by_role("button", name="Continue to payment").click()
        page.wait_for_url("https://checkout.stripe.com/c/pay/cs_test_*")
    sent = fake.requests[0]
    assert sent["line_items[0][price_data][unit_amount]"] == "1250" and sent["metadata[user_id]"] == user_id
    assert sent["success_url"] == f"{gateway.base}/#/billing"


def _new_user(gateway: Gateway, credits: str = "25.00") -> tuple[str, str]:
    """A new Free-plan user with its own per-account windows and trial: (user id, its key)."""
    with gateway.http(gateway.keys["admin"]["key"]) as admin:
        made = admin.post("/admin/create", json={"username": "Dana", "email": f"dana-{secrets.token_hex(4)}@example.com",
                                                  "initial_credits": credits}).json()
    return str(made["user_id"]), str(made["api_key"])


def _fresh_account(gateway: Gateway) -> str:
    """A new user with 25.00 credits and one answered request, rolled up: the pages show data, and its per-account
    windows are its own (GET /api/usage/current allows 10 a minute) however much other tests used theirs."""
    _, key = _new_user(gateway)
    with gateway.http(key) as http:
        answered = http.post("/v1/chat/completions", json={"model": "openai/gpt-4o-mini",
                                                           "messages": [{"role": "user", "content": "Hello!"}]})
        assert answered.status_code == 200, answered.text
    gateway.rollup()
    return key


def _check(page: Any, target: str, width: str, viewport: dict[str, int], problems: list[Any]) -> None:
    page.wait_for_function("() => !document.querySelector('main').innerText.includes('Loading…')")
    alerts = page.locator("main [role=alert]")
    if alerts.count():
        problems.append((target, width, f"the page shows an error: {alerts.first.inner_text()}"))
    page.screenshot(path=str(SHOTS / f"{target}-{width}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                           ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help}))")
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    if serious:
        problems.append((target, width, serious))
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    if scroll_width > viewport["width"] + 1:
        problems.append((target, width, f"the page is {scroll_width}px wide"))


def test_every_page_at_desktop_and_phone_width_passes_axe_and_fits(new_page, gateway: Gateway):
    """Screenshots of every page (shown in the README), an axe-core check, and no sideways scrolling at 390 px."""
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` in web/ (make test does)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    user, admin = _fresh_account(gateway), gateway.keys["admin"]["key"]
    problems: list[Any] = []
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport, bypass_csp=True)  # bypass_csp only to inject axe-core's script
        page.goto("/")
        page.get_by_label("API key", exact=True).wait_for()
        _check(page, "signin", width, viewport, problems)
        sign_in(page, user)
        for target in PAGES:
            if target == "admin":
                page.evaluate("() => sessionStorage.clear()")
                sign_in(page, admin)
            show(page, target)
            _check(page, target, width, viewport, problems)
    assert not problems, problems


def test_first_load_is_under_300_kb_compressed(new_page, gateway: Gateway):
    page = new_page()
    bodies: dict[str, bytes] = {}

    def keep(response: Any) -> None:  # the app's own files: the page and everything under /app/
        if response.url.startswith(f"{gateway.base}/app/") or response.url.rstrip("/") == gateway.base:
            bodies[response.url] = response.body()

    page.on("response", keep)
    sign_in(page, gateway.keys["live"]["key"])
    page.locator("svg.chart").wait_for()
    assets = bodies
    assert any(u.endswith("/app/js/chart.js") for u in assets) and any(u.endswith("/app/css/app.css") for u in assets)
    raw = sum(len(b) for b in assets.values())
    compressed = sum(len(gzip.compress(b, 9)) for b in assets.values())
    print(f"\ndashboard first load: {len(assets)} files, {raw / 1024:.1f} KB, {compressed / 1024:.1f} KB gzip")
    assert compressed < 300 * 1024 and raw < 300 * 1024  # under the budget even where nothing compresses it
