"""Validate bodies against the vendored OpenAI schemas (``openai-schemas.json``, see ``vendor_openai.py``)."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

URI = "urn:openai-openapi"


@lru_cache(maxsize=1)
def _registry() -> Registry:
    document = json.loads(Path(__file__).with_name("openai-schemas.json").read_text())
    return Registry().with_resource(URI, Resource.from_contents(document, default_specification=DRAFT202012))


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{URI}#/components/schemas/{name}"}, registry=_registry())


def errors(name: str, instance: Any) -> list[str]:
    """Every violation, as "path: message" (empty when the body conforms)."""
    found = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message[:300]}" for e in found]


def assert_valid(name: str, instance: Any) -> None:
    problems = errors(name, instance)
    assert not problems, f"{name} does not conform:\n" + "\n".join(problems[:10])




@lru_cache(maxsize=1)
def _stream_event_variants() -> dict[str, str]:
    document = json.loads(Path(__file__).with_name("openai-schemas.json").read_text())
    schemas = document["components"]["schemas"]
    variants: dict[str, str] = {}
    for option in schemas["ResponseStreamEvent"].get("anyOf") or schemas["ResponseStreamEvent"].get("oneOf"):
        name = option["$ref"].rsplit("/", 1)[-1]
        for kind in ((schemas[name].get("properties") or {}).get("type") or {}).get("enum") or []:
            variants[kind] = name
    return variants


def assert_valid_stream_event(event: dict[str, Any]) -> None:
    """A Responses stream event against its own variant of ResponseStreamEvent (by ``type``: precise messages), and
    against the union itself."""
    name = _stream_event_variants().get(event.get("type", ""))
    assert name, f"'{event.get('type')}' is not a Responses stream event type"
    assert_valid(name, event)
    assert_valid("ResponseStreamEvent", event)
