"""Vendor the OpenAI schemas the gateway's OpenAI-compatible bodies must validate against.

Run from the repo root: ``python -m tests.schemas.vendor_openai /path/to/openai-openapi.json``. It copies the named
component schemas and everything they reference (their ``$ref`` closure) into ``openai-schemas.json`` beside this
file, keeping the ``#/components/schemas/<name>`` paths so references resolve unchanged. The source is
openai/openai-openapi (MIT, LICENSE beside this file); ``openai-schemas.json`` records the commit it came from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOTS = (
    "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "Response", "ResponseStreamEvent",
    "ListModelsResponse", "Model", "ImagesResponse", "CreateEmbeddingResponse", "ErrorResponse",
    "DeleteModelResponse", "ImageGenStreamEvent", "ResponseItemList",
)
SOURCE_COMMIT = "f85dbe223d40e1a31cba812ab2d755c7e98a92a3"
PREFIX = "#/components/schemas/"


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            found.add(ref[len(PREFIX):])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _strip(node: Any, *, names: bool = False) -> Any:
    """Drop documentation-only keys (descriptions, examples, x-oai* metadata) to keep the vendored file small;
    ``names``: the keys of this mapping are property names (a property may be called "description"), keep them all."""
    if isinstance(node, dict) and not names and node.get("nullable") is True:
        # OpenAPI 3.0's ``nullable`` survives in a few places of this 3.1 document; JSON Schema ignores it, so
        # state what it means: the value may also be null.
        rest = {k: v for k, v in node.items() if k != "nullable"}
        return {"anyOf": [_strip(rest), {"type": "null"}]}
    if isinstance(node, dict):
        return {k: _strip(v, names=k in ("properties", "patternProperties", "$defs") and not names)
                for k, v in node.items()
                if names or not (k.startswith("x-oai") or k in ("description", "example", "examples"))}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def closure(schemas: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    todo = list(roots)
    out: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = schemas[name]
        todo.extend(_refs(schemas[name]) - set(out))
    return out


def main(source: str) -> None:
    document = json.loads(Path(source).read_text())
    picked = closure(document["components"]["schemas"], ROOTS)
    vendored = {"x-source": f"openai/openai-openapi@{SOURCE_COMMIT}", "openapi": document["openapi"],
                "components": {"schemas": {k: _strip(picked[k]) for k in sorted(picked)}}}
    Path(__file__).with_name("openai-schemas.json").write_text(json.dumps(vendored, indent=None, separators=(",", ":")) + "\n")
    print(f"{len(picked)} schemas vendored")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/openai-openapi.json")
