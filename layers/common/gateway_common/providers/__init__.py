"""Upstream LLM providers: small adapters of our own over httpx (no LLM meta-library: cold starts cannot pay for one).

- ``openai_compat``: one adapter for every OpenAI-compatible API (OpenRouter, Portkey, Featherless, Chutes, OpenAI,
  DeepSeek), configured per provider in ``config`` (base URL, auth header, extra headers).
- ``anthropic``: the Anthropic Messages API, translated both ways (requests, responses, streaming events).
- ``sandbox``: the built-in deterministic model (test/dev keys, local runs without provider credentials).
- ``routing``: picks a model's routes, retries with backoff and falls back to the next route.

Adapters speak the OpenAI chat-completions format on our side: they take the request body as a dict and return a
``Completion`` (the chat.completion dict + ``Usage``) or yield chat.completion.chunk dicts.
"""
