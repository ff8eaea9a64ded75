"""/v1/embeddings: metered like chat (the same admission and settle), vectors as floats or base64.

The canonical body given to admission is a chat body whose one user message is the inputs' text and whose output
cap is 1 token (embedding models have no completion price): the reservation is the inputs' prompt estimate at the
model's price, the settle charges the provider's token count (estimated, and flagged, when it gives none).
"""

from __future__ import annotations

import base64
import struct
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool

from gateway_common.catalog import ModelEntry
from gateway_common.errors import BadRequest
from gateway_common.providers import routing
from gateway_common.providers.base import Usage, estimate_prompt_tokens, estimate_text_tokens
from gateway_common.providers.routing import Target
from gateway_common.providers.sandbox import embedding_texts

from . import logic

MAX_INPUTS = 2048


def check(entry: ModelEntry, request: dict[str, Any]) -> int:
    """The dimensions to return; a 400 for a model that does not embed or a dimension it cannot give."""
    if not entry.is_embedding:
        raise BadRequest(f"Model '{entry.id}' is not an embedding model: use e.g. 'openai/text-embedding-3-small'",
                         code="model_not_embedding", param="model")
    native = entry.dimensions or 1536
    wanted = request.get("dimensions")
    if wanted is not None and not 1 <= int(wanted) <= native:
        raise BadRequest(f"field 'dimensions': between 1 and {native} for '{entry.id}'", param="dimensions")
    return int(wanted or native)


def chat_body(entry: ModelEntry, request: dict[str, Any]) -> dict[str, Any]:
    """The canonical body admission reserves for. An embedding model's ``context_length`` is what one request may
    hold in all (OpenAI: 300,000 tokens), its ``top_provider.context_length`` what one input may (8191)."""
    texts = embedding_texts(request.get("input"))
    if not texts or len(texts) > MAX_INPUTS or any(text == "" for text in texts):
        raise BadRequest(f"field 'input': 1 to {MAX_INPUTS} non-empty inputs", param="input")
    per_input = entry.top_provider.context_length or entry.context_length
    for index, text in enumerate(texts):
        tokens = estimate_prompt_tokens([{"role": "user", "content": text}])
        if per_input and tokens > per_input:
            raise BadRequest(f"field 'input.{index}': about {tokens} tokens, more than the {per_input} one input of "
                             f"'{entry.id}' may hold", code="context_length_exceeded", param=f"input.{index}")
    return {"model": entry.id, "messages": [{"role": "user", "content": "\n".join(texts)}], "max_tokens": 1}


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


async def create(call: logic.Call, request: dict[str, Any], dimensions: int) -> tuple[Target, dict[str, Any], Decimal]:
    upstream = {**request, "model": call.model}
    target, result = await logic._settle_on_failure(call, routing.embeddings(call.targets, upstream, dimensions))
    usage = result.usage
    if usage.estimated:
        usage = Usage(sum(estimate_text_tokens(t) for t in embedding_texts(request.get("input"))), 0, None, True)
    cost = await run_in_threadpool(logic.finish, call, target=target, usage=usage, status="success", http_status=200)
    encoding = request.get("encoding_format") or "float"
    body = {"object": "list", "model": call.model,
            "data": [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)}
                     for i, v in enumerate(result.vectors)],
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens}}
    return target, body, cost
