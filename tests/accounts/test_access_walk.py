"""The access-control walk over every route of every function, and the proof that it catches a forgotten guard."""

from __future__ import annotations

from typing import Any

import pytest
import respx
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from gateway_common import apikeys
from gateway_common.auth import Caller, authenticate, require_admin
from gateway_common.web import authorized, create_app
from tests.helpers import bearer

from . import walk
from .conftest import make_user


def _account(name: str, role: str = "user") -> walk.Account:
    made = make_user(name, role=role)
    account = walk.Account(user_id=made["user_id"], key=made["key"], key_id=made["key_id"])
    account.secrets = [made["user_id"], made["email"], made["key_id"], made["masked"], made["key"], name]
    return account


def _scopeless(account: walk.Account) -> walk.Account:
    """The same user with a second key whose scope_permissions grant nothing."""
    raw, record = apikeys.create_gw_key(user_id=account.user_id, key_name="no scopes", environment="live",
                                        scope_permissions={"read": [], "write": []})
    return walk.Account(user_id=account.user_id, key=raw, key_id=record.key_id)


def _find_id(payload: Any, names: tuple[str, ...]) -> str | None:
    if isinstance(payload, dict):
        for name in names:
            if isinstance(payload.get(name), str | int):
                return str(payload[name])
        for value in payload.values():
            found = _find_id(value, names)
            if found:
                return found
    return None


def _owned_resources(client: TestClient, victim: walk.Account, routes: list[walk.Route]) -> dict[str, str]:
    """Resources of the victim, created through the API itself, keyed by the path parameter that names them."""
    owned = {"key_id": victim.key_id, "user_id": victim.user_id}
    second, record = apikeys.create_gw_key(user_id=victim.user_id, key_name="victim second", environment="live")
    victim.secrets += [record.key_id, record.masked, second]
    owned["key_id"] = record.key_id
    creators = {r.name: r for r in routes}
    session_route = creators.get("POST /chat/sessions")
    if session_route is not None:
        response = client.post("/chat/sessions", headers=bearer(victim.key), json=walk.body_for(session_route))
        session_id = _find_id(response.json(), ("session_id", "id")) if response.status_code == 200 else None
        if session_id:
            owned["session_id"] = session_id
            victim.secrets.append(session_id)
    return owned


@pytest.fixture
def no_network():
    with respx.mock(assert_all_called=False) as mock:
        mock.route().respond(503, json={"error": {"message": "walk: no upstream"}})
        yield mock


def test_every_route_is_guarded(client, dynamo, no_network):
    routes = walk.gateway_routes()
    assert len(routes) >= 20 and {r.name for r in routes} >= {"GET /roles", "POST /auth/privy", "GET /user/balance"}
    user, victim = _account("walk-caller-a"), _account("walk-victim-b")
    owned = _owned_resources(client, victim, routes)
    result = walk.walk(client, routes, user=user, other=victim, owned=owned, scopeless=_scopeless(user),
                       scopeless_admin=_scopeless(_account("walk-admin-c", role="admin")))
    assert result.problems == [], "\n".join(result.problems)
    assert result.calls >= 4 * len(routes)
    # the victim's key and resources survived every call the walk made with the other user's key
    assert client.get("/user/balance", headers=bearer(victim.key)).json()["user_id"] == victim.user_id
    assert apikeys.get_key(owned["key_id"]).status == "active"
    if "session_id" in owned:
        assert client.get(f"/chat/sessions/{owned['session_id']}", headers=bearer(victim.key)).status_code == 200


def _admin_guarded(route: walk.Route) -> bool:
    """Whether the route's own dependency is ``authorized(..., admin=True)`` (read from the closure it built)."""
    for dependency in route.endpoint.dependant.dependencies:
        code = getattr(dependency.call, "__code__", None)
        if code is not None and "admin" in code.co_freevars:
            if dependency.call.__closure__[code.co_freevars.index("admin")].cell_contents:
                return True
    return False


def test_the_walk_knows_every_admin_route():
    """A route guarded admin-only outside the walk's admin table would be walked as an ordinary route (only its leaks
    checked), so a later loss of its admin guard would go unseen: the table must name every admin route."""
    routes = walk.gateway_routes()
    guarded = {r.name for r in routes if _admin_guarded(r)}
    assert {"GET /roles", "POST /admin/rate-limits", "GET /admin/audit-logs"} <= guarded
    unknown = sorted(name for name in guarded if not walk.Route(*name.split(" ", 1), None).is_admin)  # type: ignore[arg-type]
    assert unknown == [], f"admin-only routes missing from walk.ADMIN_ROUTES / ADMIN_PREFIXES: {unknown}"
    negative = walk.routes_of([_leaky_router()])
    assert not any(_admin_guarded(r) for r in negative if r.path == "/admin/leaky-report")  # forgot admin=True: seen


def _leaky_router() -> APIRouter:
    router = APIRouter()

    @router.get("/user/leaky-balance")
    def leaky_balance() -> dict[str, str]:  # forgot authorized(...) altogether
        return {"credits": "25.00"}

    @router.get("/admin/leaky-report")
    def leaky_report(caller: Caller = authorized("admin")) -> dict[str, str]:  # forgot admin=True
        return {"report": "everyone's revenue"}

    @router.get("/user/leaky-keys/{key_id}")
    def leaky_key(key_id: str, caller: Caller = authorized("api_keys")) -> dict[str, Any]:  # forgot the owner check
        record = apikeys.get_key(key_id)
        return {"key_id": key_id, "user_id": record.user_id if record else None, "masked": record.masked if record else None}

    @router.get("/user/unscoped-balance")
    def unscoped_balance(request: Request) -> dict[str, str]:  # authenticates, but forgot the scope check
        caller = authenticate(request.headers.get("authorization"), request.headers.get("x-license-key"))
        return {"user_id": caller.user_id}

    @router.get("/admin/unscoped-report")
    def unscoped_report(request: Request) -> dict[str, str]:  # checks the admin role, but forgot the scope check
        require_admin(authenticate(request.headers.get("authorization"), request.headers.get("x-license-key")))
        return {"report": "everyone's revenue"}

    @router.get("/user/guarded-keys/{key_id}")
    def guarded_key(key_id: str, caller: Caller = authorized("api_keys")) -> dict[str, Any]:  # done right
        record = apikeys.get_owned_key(caller.user_id, key_id)
        return {"key_id": key_id, "masked": record.masked}

    return router


def test_the_walk_fails_when_a_route_forgets_its_guard(dynamo):
    router = _leaky_router()
    client = TestClient(create_app("walk-negative", [router]))
    user, victim = _account("leak-caller-a"), _account("leak-victim-b")
    result = walk.walk(client, walk.routes_of([router]), user=user, other=victim, owned={"key_id": victim.key_id},
                       scopeless=_scopeless(user), scopeless_admin=_scopeless(_account("leak-admin-c", role="admin")))
    problems = "\n".join(result.problems)
    assert "GET /user/unscoped-balance: a user's key without scopes gave 200, expected (403,)" in problems
    assert "GET /admin/unscoped-report: an admin's key without scopes gave 200, expected (403,)" in problems
    assert "GET /user/guarded-keys/{key_id}: a user's key without scopes" not in problems
    assert "GET /user/leaky-balance: no key gave 200, expected (401,)" in problems
    assert "GET /user/leaky-balance: a wrong key gave 200" in problems
    assert "GET /admin/leaky-report: a non-admin key gave 200, expected (403,)" in problems
    assert "GET /user/leaky-keys/{key_id}: another user's key_id gave 200, expected (404,)" in problems
    assert "GET /user/leaky-keys/{key_id}: an ordinary user's key returned another user's data" in problems
    assert "/user/guarded-keys/" not in problems
