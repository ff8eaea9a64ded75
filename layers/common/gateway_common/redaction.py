"""Redaction: the one filter that upstream error text, error envelopes and log lines pass before they leave.

What it keeps true: no text that went through ``redact`` holds
- any run of ``MIN_RUN`` (8) or more characters of a configured secret (provider keys, Stripe and Privy secrets:
  every secret ``secrets.get_secret`` has returned in this process, and the provider keys set in the environment),
  whether the whole key is echoed or only a part of it (``sk-ant-api03-AbC…`` cut at 28 characters);
- anything shaped like a credential, configured or not: ``Bearer <token>``, ``sk-…``/``sk_live_…`` keys, gateway and
  license keys, JWTs, Stripe webhook secrets.

Applied at the choke points rather than in each adapter: ``ProviderError``/``StreamBroken`` messages (so the 4xx/5xx
answers built from them and the SSE error event mid-stream are clean), the error envelope, and the log formatter
(``observability``). ``redact_path`` masks key-looking segments of a URL path for access logs.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache

MIN_RUN = 8
PROVIDER_KEY = "[provider key]"
REDACTED = "[redacted]"
# Environment names of secrets whose values must never leave, read without a fetch (locally these hold the values).
SECRET_NAMES = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "PORTKEY_API_KEY",
                "PORTKEY_VIRTUAL_KEY", "FEATHERLESS_API_KEY", "CHUTES_API_KEY", "STRIPE_SECRET_KEY",
                "STRIPE_WEBHOOK_SECRET")

# Credentials by their shape. Masked keys (gw_live_abcd…wxyz) and key ids (key_…) do not match.
_SHAPES = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"
    r"|\b(?:sk|rk|pk)[-_][A-Za-z0-9_\-]{8,}"
    r"|gw_(?:live|test|staging|dev)_[A-Za-z0-9_\-]{16,}"
    r"|CHA-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    r"|whsec_[A-Za-z0-9]{8,}"
)
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret fetched at run time (SSM / Secrets Manager): later text is filtered against it too."""
    if value and len(value) >= MIN_RUN and value not in _registered:
        _registered.add(value)


@dataclass(frozen=True)
class _Matcher:
    grams: frozenset[str]   # every MIN_RUN-character slice of every secret
    runs: re.Pattern[str]   # runs of characters that secrets are made of: only windows inside them can match


@lru_cache(maxsize=8)
def _matcher(environment: tuple[str | None, ...], registered: int) -> _Matcher | None:
    """For the secrets in the environment and the ``registered`` ones (a set that only grows: its size says which)."""
    usable = [s for s in {*environment, *_registered} if s and len(s) >= MIN_RUN]
    if not usable:
        return None
    alphabet = "".join(sorted(set("".join(usable))))
    return _Matcher(frozenset(s[i:i + MIN_RUN] for s in usable for i in range(len(s) - MIN_RUN + 1)),
                    re.compile(f"[{re.escape(alphabet)}]{{{MIN_RUN},}}"))


def _configured() -> _Matcher | None:
    return _matcher(tuple(os.environ.get(name) for name in SECRET_NAMES), len(_registered))


def _mask_secret_runs(text: str, matcher: _Matcher) -> str:
    """Every character covered by a MIN_RUN-window that is a slice of a secret becomes part of one marker."""
    covered: list[tuple[int, int]] = []
    for run in matcher.runs.finditer(text):
        start, end = run.span()
        for i in range(start, end - MIN_RUN + 1):
            if text[i:i + MIN_RUN] in matcher.grams:
                if covered and covered[-1][1] >= i:
                    covered[-1] = (covered[-1][0], i + MIN_RUN)
                else:
                    covered.append((i, i + MIN_RUN))
    if not covered:
        return text
    out, last = [], 0
    for start, end in covered:
        out += [text[last:start], PROVIDER_KEY]
        last = end
    out.append(text[last:])
    return "".join(out)


def redact(text: str) -> str:
    """``text`` without configured secrets (whole or any 8+ character run of one) and without credential shapes."""
    if not text:
        return text
    matcher = _configured()
    if matcher is not None:
        text = _mask_secret_runs(text, matcher)
    return _SHAPES.sub(REDACTED, text)


def redact_path(path: str) -> str:
    """A URL path for an access log: segments that hold a credential are masked (``/api/usage/[redacted]``)."""
    return "/".join(redact(segment) for segment in path.split("/"))


class RedactingFilter(logging.Filter):
    """A logging filter for loggers we do not format (uvicorn's, Mangum's): the message, its string arguments and the
    traceback are redacted (the access line's path: ``GET /api/usage/[redacted]``). A traceback is folded into the
    message, redacted, and ``exc_info`` dropped: whatever formats the line (uvicorn's, Lambda's text or JSON one, which
    reads the exception itself) then sees only the filtered text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if record.exc_info and record.exc_info[0] is not None:
            trace = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.msg = f"{record.getMessage()}\n{redact(trace)}"
            record.args, record.exc_info, record.exc_text = (), None, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# The loggers of the servers in front of our apps: uvicorn (local runner; the chat function in Lambda) and Mangum
# (every other HTTP function). Starlette re-raises an unhandled exception after our handler answered, and these log it.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "mangum", "mangum.http", "mangum.lifespan")


def install_log_filters(names: tuple[str, ...] = SERVER_LOGGERS) -> None:
    """Put ``RedactingFilter`` on the web servers' loggers (a logger's filter sees only its own records: each is named).
    Done by ``web.create_app`` for every function and by the local runner; in Lambda the chat function's uvicorn runs
    with ``--no-access-log`` and API Gateway logs the resource template, not the path."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
