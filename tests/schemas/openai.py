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


