"""/docs and the OpenAPI document: complete (every template route), with request and response schemas."""

from __future__ import annotations

from local import template


def test_openapi_lists_every_route_of_the_template_with_schemas(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for function in template.http_functions():
        if function.logical_id == "WebFunction":
            continue  # the dashboard's page and files, not API operations
        for method, route in function.routes:
            path = route.replace(":path}", "}")  # a greedy parameter ({id+} in the template) is plain in OpenAPI
            assert path in paths and method.lower() in paths[path], f"{method} {path} missing from /docs"
            operation = paths[path][method.lower()]
            assert "200" in operation["responses"], f"{method} {path} documents no success response"
            if method in {"POST", "PUT"} and "requestBody" in operation:
                assert operation["requestBody"]["content"]["application/json"]["schema"]
    schemes = document["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    assert paths["/user/balance"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "BalanceResponse"
    )


def test_swagger_ui_is_served(client):
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger-ui" in response.text.lower()
