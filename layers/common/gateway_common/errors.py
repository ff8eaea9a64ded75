"""Domain errors, raised deep in logic and turned into the one error envelope at the HTTP edge.

Envelope: ``{"detail", "status_code", "timestamp"}`` (the seed's format) plus an OpenAI-style
``"error": {"message", "type", "param", "code"}`` (OpenAI's Error schema: ``param`` names the request field at fault,
or is null) so OpenAI SDKs raise the matching exception class.
"""

from __future__ import annotations

from typing import Any

from .redaction import redact
from .timeutil import iso_now


class GatewayError(Exception):
    status_code = 500
    error_type = "api_error"
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code:
            self.code = code
        self.headers = headers or {}


class BadRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    code = "bad_request"


class Unauthorized(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PaymentRequired(GatewayError):
    status_code = 402
    error_type = "insufficient_quota"
    code = "insufficient_credits"


class Forbidden(GatewayError):
    status_code = 403
    error_type = "permission_error"
    code = "forbidden"


class NotFound(GatewayError):
    status_code = 404
    error_type = "not_found_error"
    code = "not_found"


class Conflict(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    code = "conflict"


class RateLimited(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(GatewayError):
    status_code = 502
    error_type = "api_error"
    code = "upstream_error"


class ServiceUnavailable(GatewayError):
    status_code = 503
    error_type = "api_error"
    code = "service_unavailable"


ERROR_TYPES_BY_STATUS = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_credits"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "payload_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def envelope(status_code: int, message: str, *, error_type: str | None = None, code: str | None = None,
             param: str | None = None) -> dict[str, Any]:
    default_type, default_code = ERROR_TYPES_BY_STATUS.get(status_code, ("api_error", "internal_error"))
    message = redact(message)  # the last gate before a client: no credential, whatever path built the message
    return {
        "detail": message,
        "status_code": status_code,
        "timestamp": iso_now(),
        "error": {"message": message, "type": error_type or default_type, "param": param, "code": code or default_code},
    }
