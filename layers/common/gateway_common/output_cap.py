"""One output cap per AI request.

Clients can bound the output with several fields that mean the same thing: OpenAI's ``max_tokens`` and
``max_completion_tokens``, the Responses API's ``max_output_tokens``, Anthropic's ``max_tokens``. If the reservation
covered one and the provider honoured another, a client could be billed far more than was held. So every such field
becomes one value, the smallest given, capped by the model's output limit; the others are removed, and only
``max_tokens`` goes on (adapters send exactly that value, under the field name their provider expects). The
reservation covers exactly that value.
"""

from __future__ import annotations

from typing import Any

from .catalog import ModelEntry
from .errors import BadRequest

CAP_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def _whole_tokens(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"field '{name}': must be a whole number of tokens (an integer of at least 1)", code="invalid_output_cap")
    if value < 1:
        raise BadRequest(f"field '{name}': must be at least 1", code="invalid_output_cap")
    return value


def normalize(body: dict[str, Any], entry: ModelEntry) -> int:
    """Replace every output-cap field of ``body`` with one ``max_tokens``: the smallest given, at most the model's
    output limit (the model's limit when none is given). Returns that cap."""
    given = [_whole_tokens(name, body.pop(name)) for name in CAP_FIELDS if body.get(name) is not None]
    for name in CAP_FIELDS:
        body.pop(name, None)
    cap = min([*given, entry.max_output()])
    body["max_tokens"] = cap
    return cap


def check_context(entry: ModelEntry, prompt_tokens: int) -> None:
    """A prompt whose estimate exceeds the model's context window is refused before anything is held."""
    if entry.context_length and prompt_tokens > entry.context_length:
        raise BadRequest(
            f"This prompt is about {prompt_tokens} tokens, more than the {entry.context_length}-token context window of "
            f"'{entry.id}': shorten the messages or choose a model with a longer context.",
            code="context_length_exceeded",
        )
