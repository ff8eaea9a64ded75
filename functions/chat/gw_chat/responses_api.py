"""OpenAI Responses API <-> chat completions: the request becomes a chat request, the completion a Response object.

The Response object is OpenAI's (``output`` a list of message / ``function_call`` items, ``created_at``,
``usage.input_tokens``…), plus, for clients written against the gateway document's example, ``output_text``,
``created`` and ``usage.prompt_tokens`` / ``completion_tokens`` (extra fields OpenAI clients ignore).

Input items: messages (text and ``input_image`` parts), ``function_call`` and ``function_call_output`` (a tool round
trip). Tools: ``function`` tools; hosted tools (web search, file search, …) are a 400 naming the tool. The conversation
(input and output, as chat messages, without ``instructions``, which OpenAI does not carry over either) is what a
stored response keeps for ``previous_response_id``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway_common.errors import BadRequest
from gateway_common.providers.base import Usage, message_text

from .schemas import NO_FILE_IDS

ROLES = ("system", "developer", "user", "assistant")


@dataclass
class Translated:
    chat: dict[str, Any]  # the canonical chat body for admission and the adapters
    conversation: list[dict[str, Any]] = field(default_factory=list)  # chat messages without instructions


TEXT_PARTS = ("input_text", "output_text", "text", "refusal")


def _file_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    """An ``input_file`` -> a chat ``file`` part (its data: chat has no URL form, and the gateway takes no uploads)."""
    if part.get("file_url"):
        raise BadRequest(f"field '{where}.file_url': give the file as file_data (a data URL)",
                         param=f"{where}.file_url")
    if not part.get("file_data"):
        raise BadRequest(f"field '{where}.file_data': {NO_FILE_IDS}", param=f"{where}.file_data")
    return {"type": "file", "file": {name: part[name] for name in ("file_data", "filename") if part.get(name)}}


def _item_content(content: Any, where: str = "input") -> str | list[dict[str, Any]]:
    """Responses content -> chat content: text parts joined; with an ``input_image`` or ``input_file`` part, chat
    parts (text, ``image_url``, ``file``) so it reaches the model; any other part is a 400 naming it, never dropped."""
    if not isinstance(content, list):
        return message_text(content)
    parts = [p for p in content if isinstance(p, dict)]
    for number, part in enumerate(parts):
        if part.get("type") not in (*TEXT_PARTS, "input_image", "input_file"):
            raise BadRequest(f"field '{where}.content.{number}.type': part type '{part.get('type')}' is not supported",
                             param=f"{where}.content.{number}.type")
    if all(p.get("type") in TEXT_PARTS for p in parts):
        return "\n".join(str(p.get("text") or p.get("refusal") or "") for p in parts)
    chat: list[dict[str, Any]] = []
    for number, part in enumerate(parts):
        if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
            chat.append({"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail", "auto")}})
        elif part.get("type") == "input_file":
            chat.append(_file_part(part, f"{where}.content.{number}"))
        elif part.get("type") in TEXT_PARTS:
            chat.append({"type": "text", "text": str(part.get("text") or part.get("refusal") or "")})
    return chat


def _input_messages(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        kind = item.get("type") or "message"
        if kind == "message" and "role" in item:
            role = item["role"] if item["role"] in ROLES else "user"
            messages.append({"role": role, "content": _item_content(item.get("content"), f"input.{index}")})
        elif kind == "function_call":
            call = {"id": str(item.get("call_id") or item.get("id") or f"call_{index}"), "type": "function",
                    "function": {"name": str(item.get("name", "")), "arguments": str(item.get("arguments") or "{}")}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not item.get("call_id"):
                raise BadRequest(f"field 'input.{index}.call_id': a function_call_output needs the call_id it answers",
                                 param=f"input.{index}.call_id")
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": str(item["call_id"]),
                             "content": output if isinstance(output, str) else message_text(output)})
        else:
            raise BadRequest(f"field 'input.{index}': item type '{kind}' is not supported (message, function_call "
                             "and function_call_output are)", param=f"input.{index}.type")
    return messages


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chat = []
    for index, tool in enumerate(tools):
        if tool.get("type") != "function" or not tool.get("name"):
            raise BadRequest(f"field 'tools.{index}': only function tools are supported, not '{tool.get('type')}'",
                             param=f"tools.{index}.type")
        function = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
        if tool.get("description"):
            function["description"] = tool["description"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        chat.append({"type": "function", "function": function})
    return chat


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    if isinstance(choice, dict):
        raise BadRequest(f"field 'tool_choice': '{choice.get('type')}' is not supported", param="tool_choice")
    return choice


def text_format(body: dict[str, Any]) -> dict[str, Any]:
    """The request's output format in the Responses (flat) shape: ``text.format``, or a chat-style response_format."""
    fmt = (body.get("text") or {}).get("format")
    if fmt:
        return dict(fmt)
    chat = body.get("response_format")
    if isinstance(chat, dict) and chat.get("type") == "json_schema" and isinstance(chat.get("json_schema"), dict):
        return {"type": "json_schema", **chat["json_schema"]}
    return dict(chat) if isinstance(chat, dict) and chat.get("type") else {"type": "text"}


def to_chat_body(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> Translated:
    conversation = [*(history or []), *_input_messages(body["input"])]
    messages = list(conversation)
    if body.get("instructions"):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    if not messages:
        raise BadRequest("field 'input': give at least one message", param="input")
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    for name in ("max_output_tokens", "max_tokens"):  # both go on: admission keeps the smaller as the one cap
        if body.get(name) is not None:
            chat[name] = body[name]
    for name in ("temperature", "top_p", "parallel_tool_calls", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    effort = (body.get("reasoning") or {}).get("effort") if isinstance(body.get("reasoning"), dict) else None
    if effort:
        chat["reasoning_effort"] = effort  # reasoning models; others refuse it, as OpenAI's Responses API does
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = _tool_choice(body["tool_choice"])
    fmt = text_format(body)
    if fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema",
                                   "json_schema": {k: v for k, v in fmt.items() if k != "type"}}
    if body.get("stream"):
        chat["stream"] = True
    return Translated(chat=chat, conversation=conversation)


def response_id(request_id: str) -> str:
    return "resp_" + request_id.removeprefix("req_")


def output_items(rid: str, message: dict[str, Any], status: str = "completed") -> list[dict[str, Any]]:
    suffix = rid.removeprefix("resp_")
    items: list[dict[str, Any]] = []
    text = message_text(message.get("content"))
    if text or not message.get("tool_calls"):
        items.append({"type": "message", "id": f"msg_{suffix}", "status": status, "role": "assistant",
                      "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        items.append({"type": "function_call", "id": f"fc_{suffix}_{index}", "call_id": str(call.get("id") or ""),
                      "name": str(function.get("name", "")), "arguments": str(function.get("arguments") or ""),
                      "status": "completed"})
    return items


def response_usage(usage: Usage, cost: Decimal | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": usage.cache_write_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    if cost is not None:
        view["cost"] = float(cost)
    return view


def _tools_view(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{"type": "function", "name": t.get("name", ""), "description": t.get("description"),
             "parameters": t.get("parameters"), "strict": t.get("strict")} for t in tools or []]


def skeleton(rid: str, body: dict[str, Any], model: str, created: int, status: str = "in_progress") -> dict[str, Any]:
    """A Response with no output yet (what ``response.created`` carries)."""
    return {
        "id": rid, "object": "response", "created_at": created, "created": created, "status": status,
        "completed_at": None, "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens") or body.get("max_tokens"), "model": model, "output": [],
        "output_text": "", "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"), "store": body.get("store", True),
        "temperature": body.get("temperature"), "top_p": body.get("top_p"),
        "tool_choice": body.get("tool_choice") or "auto", "tools": _tools_view(body.get("tools")),
        "text": {"format": text_format(body)}, "truncation": "disabled", "metadata": body.get("metadata") or {},
    }


def to_response(rid: str, completion: dict[str, Any], body: dict[str, Any], model: str, usage: Usage,
                cost: Decimal | None = None) -> dict[str, Any]:
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    incomplete = choice.get("finish_reason") == "length"
    created = int(completion.get("created") or time.time())
    response = skeleton(rid, body, model, created, "incomplete" if incomplete else "completed")
    response["output"] = output_items(rid, message, "incomplete" if incomplete else "completed")
    response["output_text"] = message_text(message.get("content"))
    response["completed_at"] = None if incomplete else int(time.time())
    response["incomplete_details"] = {"reason": "max_output_tokens"} if incomplete else None
    response["usage"] = response_usage(usage, cost)
    return response


def conversation_after(translated: Translated, completion: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored conversation: the input and the assistant's answer (text and tool calls)."""
    message = ((completion.get("choices") or [{}])[0].get("message") or {})
    answer: dict[str, Any] = {"role": "assistant", "content": message_text(message.get("content"))}
    if message.get("tool_calls"):
        answer["tool_calls"] = [{"id": c.get("id"), "type": "function", "function": c.get("function")}
                                for c in message["tool_calls"]]
    return [*translated.conversation, answer]
