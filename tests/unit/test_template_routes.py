"""template.yaml and the apps agree: every served route is an API event of its function, and every event is served."""

from __future__ import annotations

import importlib

from fastapi.routing import APIRoute

from local import template


def _app_routes(module_name: str) -> set[tuple[str, str]]:
    router = importlib.import_module(module_name).router
    return {
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if method != "HEAD"
    }


def test_every_function_serves_exactly_its_template_routes():
    functions = template.http_functions()
    assert {f.logical_id for f in functions} >= {"HealthFunction", "AccountFunction", "AdminFunction", "LicenseFunction"}
    for function in functions:
        served = _app_routes(function.module)
        declared = set(function.routes)
        assert served - declared == set(), f"{function.logical_id} serves routes missing from template.yaml"
        assert declared - served == set(), f"template.yaml routes {function.logical_id} does not serve"


def test_no_route_is_declared_twice():
    seen: dict[tuple[str, str], str] = {}
    for function in template.http_functions():
        for route in function.routes:
            assert route not in seen, f"{route} is declared by {seen.get(route)} and {function.logical_id}"
            seen[route] = function.logical_id


def test_the_check_sees_a_missing_route(monkeypatch):
    """The comparison above is not vacuous: a route added to an app without a template event is caught."""
    account = next(f for f in template.http_functions() if f.logical_id == "AccountFunction")
    router = importlib.import_module(account.module).router

    @router.get("/user/unlisted")
    def unlisted() -> dict[str, str]:
        return {}

    try:
        assert ("GET", "/user/unlisted") in _app_routes(account.module) - set(account.routes)
    finally:
        router.routes.remove(next(r for r in router.routes if getattr(r, "path", "") == "/user/unlisted"))


def test_tables_have_keys_and_the_usage_stream():
    tables = template.tables()
    assert tables["UsageTable"]["StreamSpecification"]["StreamViewType"] in {"NEW_IMAGE", "NEW_AND_OLD_IMAGES"}
    assert tables["CountersTable"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    for name, props in tables.items():
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["KeySchema"][0]["KeyType"] == "HASH", name


def test_the_layers_route_list_is_the_templates():
    """custom_limits are validated against routes.json: it must list exactly the template's routes."""
    import json

    from gateway_common import route_names
    from local import route_list

    assert sorted(route_names.routes()) == route_list.current(), "run: python -m local.route_list"
    assert json.loads((route_list.ROOT / "layers/common/gateway_common/routes.json").read_text())["routes"] == route_list.current()
