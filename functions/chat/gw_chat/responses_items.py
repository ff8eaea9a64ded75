"""GET /v1/responses/{id}/input_items: the input items a stored response was made from, as OpenAI lists them.

The request's ``input`` (a string or items) is stored beside the response, and listed as OpenAI's item resources
(``message`` with its content parts, ``function_call``, ``function_call_output``), each with an id, newest first by
default (``order``), paged by ``after`` and ``limit``.
"""

from __future__ import annotations

from typing import Any

from gateway_common.errors import BadRequest


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    return [part for part in content or [] if isinstance(part, dict)]


def from_input(rid: str, raw: Any) -> list[dict[str, Any]]:
    """The request's ``input`` as item resources (ids derived from the response's)."""
    suffix = rid.removeprefix("resp_")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        kind = item.get("type") or "message"
        item_id = str(item.get("id") or f"in_{suffix}_{index}")
        if kind == "message" and item.get("role") == "assistant":
            text = item["content"] if isinstance(item.get("content"), str) else "\n".join(
                str(p.get("text", "")) for p in _parts(item.get("content")))
            out.append({"type": "message", "id": item_id, "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]})
        elif kind == "message":
            out.append({"type": "message", "id": item_id, "role": item.get("role", "user"), "status": "completed",
                        "content": _parts(item.get("content"))})
        elif kind == "function_call":
            out.append({"type": "function_call", "id": item_id, "call_id": str(item.get("call_id") or ""),
                        "name": str(item.get("name", "")), "arguments": str(item.get("arguments") or ""),
                        "status": "completed"})
        elif kind == "function_call_output":
            output = item.get("output")
            out.append({"type": "function_call_output", "id": item_id, "call_id": str(item.get("call_id") or ""),
                        "output": output if isinstance(output, str) else str(output), "status": "completed"})
    return out


def page(items: list[dict[str, Any]], *, limit: int, order: str, after: str | None) -> dict[str, Any]:
    ordered = list(reversed(items)) if order == "desc" else list(items)
    start = 0
    if after is not None:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise BadRequest(f"query parameter 'after': no input item '{after[:100]}'", param="after")
        start = ids.index(after) + 1
    data = ordered[start: start + limit]
    return {"object": "list", "data": data, "has_more": start + limit < len(ordered),
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
