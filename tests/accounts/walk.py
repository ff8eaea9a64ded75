"""The access-control walk: every route of every function (read from the functions' own routers, so a new route
cannot be missed) called with no key, a wrong key, a non-admin key, a key without scopes (of a user, and of an admin on
admin routes: the refusal must be the scope check's) and another user's resource ids.

``walk`` returns the problems it found (empty = all guarded); the tests assert on that list, and a test that mounts
deliberately unguarded routes proves the walk catches them. Common cases need no per-route code: bodies are generated
from each route's request model, path ids come from the small tables below.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi.routing import APIRoute

from local import template

# Routes that need no key by design. Anything not listed here must answer 401 without a valid key.
PUBLIC: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/health"), ("GET", "/ping"), ("GET", "/api/health"),
    ("GET", "/plans"), ("GET", "/plans/{plan_id}"),
    ("GET", "/models"), ("GET", "/models/providers"), ("GET", "/ranking/models"),
    ("POST", "/auth/privy"),            # the Privy token is the credential
    ("GET", "/auth/config"),            # public sign-in configuration (Privy app id)
    ("POST", "/api/stripe/webhook"),    # the Stripe signature is the credential
    ("GET", "/"), ("GET", "/app/{path:path}"),  # the dashboard's files: no data (the app calls the API with a key)
})
# Routes whose key travels in the path: a wrong key there is refused (401, or 404 "License not found" as in seed 003).
KEY_IN_PATH: dict[tuple[str, str], str] = {("GET", "/api/usage/{license_key}"): "license_key"}
# Admin-only routes: everything under these prefixes, plus the explicit list.
ADMIN_PREFIXES = ("/admin/", "/roles")
ADMIN_ROUTES: frozenset[tuple[str, str]] = frozenset({("POST", "/coupons"), ("GET", "/coupons")})
# Path parameters that name something shared by everyone (no owner): any user may read them.
SHARED_PARAMS = frozenset({"plan_id", "code", "model_id", "provider"})

WRONG_GW_KEY = "gw_live_" + "W" * 43
WRONG_LICENSE_KEY = "CHA-00000000-00000000-00000000-0000DEAD"
MISSING_ID = "walk_missing_0000"


@dataclass
class Account:
    user_id: str
    key: str
    key_id: str
    secrets: list[str] = field(default_factory=list)  # strings of this account that must never reach another user

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    endpoint: APIRoute

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return [p.name for p in self.endpoint.dependant.path_params]

    @property
    def is_admin(self) -> bool:
        return self.path.startswith(ADMIN_PREFIXES) or (self.method, self.path) in ADMIN_ROUTES

    @property
    def is_public(self) -> bool:
        return (self.method, self.path) in PUBLIC


def routes_of(routers: Iterable[Any]) -> list[Route]:
    found = []
    for router in routers:
        for endpoint in router.routes:
            if isinstance(endpoint, APIRoute):
                found.extend(Route(m, endpoint.path, endpoint) for m in sorted(endpoint.methods - {"HEAD", "OPTIONS"}))
    return found


def gateway_routes() -> list[Route]:
    """Every route of every function with Api events in template.yaml, from the function's own router."""
    return routes_of(importlib.import_module(f.module).router for f in template.http_functions())


# ---------------------------------------------------------------- request bodies from the route's model

def _example(schema: dict[str, Any], defs: dict[str, Any], *, fill_optional: bool) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, fill_optional=fill_optional)
    if "const" in schema:
        return schema["const"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in schema:
            options = [s for s in schema[combo] if s.get("type") != "null"] or schema[combo]
            return _example(options[0], defs, fill_optional=fill_optional)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        names = props if (fill_optional or not required) else [n for n in props if n in required]
        return {n: _example(props[n], defs, fill_optional=False) for n in names}
    if kind == "array":
        item = _example(schema.get("items", {"type": "string"}), defs, fill_optional=False)
        return [item] * max(int(schema.get("minItems", 1)), 1)
    if kind == "integer":
        return max(int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)), 1)
    if kind == "number":
        return max(float(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)), 1.0)
    if kind == "boolean":
        return True
    if schema.get("format") == "email":
        return "walk@example.com"
    if schema.get("format") == "date-time":
        return "2099-01-01T00:00:00Z"
    return "walk" + "x" * max(int(schema.get("minLength", 0)) - 4, 0)


def body_for(route: Route) -> Any:
    field_ = route.endpoint.body_field
    if field_ is None:
        return None
    annotation = getattr(field_, "type_", None) or getattr(field_.field_info, "annotation", None)
    schema_of = getattr(annotation, "model_json_schema", None)
    if schema_of is None:
        return {}
    schema = schema_of()
    return _example(schema, schema.get("$defs", {}), fill_optional=False)


def query_for(route: Route) -> dict[str, Any]:
    """Required query parameters, with example values of their type."""
    values: dict[str, Any] = {}
    for param in route.endpoint.dependant.query_params:
        if param.field_info.is_required():
            annotation = param.field_info.annotation
            values[param.alias] = 1 if annotation in (int, float) else "walk"
    return values


# ---------------------------------------------------------------- the walk

OwnedFactory = Callable[[Any, Account], "str | None"]


@dataclass
class Walk:
    client: Any
    user: Account          # the caller: an ordinary user
    other: Account         # the victim: their data must never reach ``user``
    owned: dict[str, str]  # path parameter -> an id of ``other``'s resource
    scopeless: Account | None = None        # ``user`` with a key whose scope_permissions grant nothing
    scopeless_admin: Account | None = None  # an admin with such a key: admin routes must still check scopes
    problems: list[str] = field(default_factory=list)
    calls: int = 0

    def call(self, route: Route, path: str, headers: dict[str, str]) -> Any:
        self.calls += 1
        body = body_for(route)
        query = query_for(route)
        if body is None:
            return self.client.request(route.method, path, headers=headers, params=query)
        return self.client.request(route.method, path, params=query, content=json.dumps(body),
                                   headers={**headers, "Content-Type": "application/json"})

    def expect(self, route: Route, what: str, response: Any, statuses: tuple[int, ...]) -> None:
        if response.status_code not in statuses:
            self.problems.append(f"{route.name}: {what} gave {response.status_code}, expected {statuses}: {response.text[:160]}")

    def no_leak(self, route: Route, what: str, response: Any) -> None:
        """No string of the other user in the response, except an id the caller itself sent (echoed in a 404)."""
        text, sent = response.text, str(response.request.url)
        leaked = [s for s in self.other.secrets if s and s in text and s not in sent]
        if leaked:
            self.problems.append(f"{route.name}: {what} returned another user's data {leaked}")
        if response.status_code == 500:
            self.problems.append(f"{route.name}: {what} gave 500: {text[:160]}")

    def expect_scope_refusal(self, route: Route, path: str, account: Account | None, who: str,
                             headers: dict[str, str] | None = None) -> None:
        if account is None:
            return
        response = self.call(route, path, account.headers() if headers is None else headers)
        what = f"{who} key without scopes"
        self.expect(route, what, response, (403,))
        if response.status_code == 403 and "lacks the" not in response.text:
            self.problems.append(f"{route.name}: {what} was refused, but not by the scope check: {response.text[:160]}")
        self.no_leak(route, what, response)

    def fill(self, route: Route, values: dict[str, str]) -> str:
        path = route.path
        for param in route.params:
            path = path.replace("{" + param + "}", values.get(param, MISSING_ID))
        return path

    def check(self, route: Route) -> None:
        placeholder = self.fill(route, {})
        if (route.method, route.path) in KEY_IN_PATH:
            param = KEY_IN_PATH[(route.method, route.path)]
            for wrong in (WRONG_LICENSE_KEY, WRONG_GW_KEY):
                response = self.call(route, self.fill(route, {param: wrong}), {})
                self.expect(route, "a wrong key in the path", response, (401, 404))
                self.no_leak(route, "a wrong key in the path", response)
            if self.scopeless is not None:
                self.expect_scope_refusal(route, self.fill(route, {param: self.scopeless.key}), self.scopeless, "a user's",
                                          headers={})
            return
        if route.is_public:
            self.no_leak(route, "a public call", self.call(route, placeholder, self.user.headers()))
            return
        self.expect(route, "no key", self.call(route, placeholder, {}), (401,))
        self.expect(route, "a wrong key", self.call(route, placeholder, {"Authorization": f"Bearer {WRONG_GW_KEY}"}), (401,))
        self.expect(route, "a wrong license key", self.call(route, placeholder, {"X-License-Key": WRONG_LICENSE_KEY}), (401,))
        if route.is_admin:
            values = {p: self.owned.get(p, MISSING_ID) for p in route.params}
            response = self.call(route, self.fill(route, values), self.user.headers())
            self.expect(route, "a non-admin key", response, (403,))
            self.no_leak(route, "a non-admin key", response)
            self.expect_scope_refusal(route, self.fill(route, values), self.scopeless_admin, "an admin's")
            return
        self.expect_scope_refusal(route, placeholder, self.scopeless, "a user's")
        owned = [p for p in route.params if p not in SHARED_PARAMS]
        values = {p: self.owned.get(p, MISSING_ID) for p in owned}
        response = self.call(route, self.fill(route, values), self.user.headers())
        if owned:
            self.expect(route, f"another user's {', '.join(owned)}", response, (404,))
        self.no_leak(route, "an ordinary user's key", response)


def walk(client: Any, routes: Iterable[Route], *, user: Account, other: Account, owned: dict[str, str],
         scopeless: Account | None = None, scopeless_admin: Account | None = None) -> Walk:
    state = Walk(client=client, user=user, other=other, owned=owned, scopeless=scopeless, scopeless_admin=scopeless_admin)
    for route in routes:
        state.check(route)
    return state
