"""Errors of the service layer, and the one contract every domain error follows.

A domain error (feeds/errors.py, routing/errors.py, ticketing/errors.py, ...) is any
exception with class attributes `code` (stable, snake_case) and `status` (HTTP status
hint), raised as `Error(detail, **extra)`. maas.middleware renders it as
application/problem+json; nothing else maps errors.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MaasError",
    "BadRequest",
    "InvalidParameter",
    "UnknownParameter",
    "MalformedJson",
    "JsonTooDeep",
    "UnsupportedMediaType",
    "PayloadTooLarge",
    "ValidationFailed",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "is_domain_error",
]


class MaasError(Exception):
    code = "error"
    status = 500
    title = "Error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(MaasError):
    code, status, title = "bad_request", 400, "Bad request"


class InvalidParameter(MaasError):
    code, status, title = "invalid_parameter", 400, "Invalid parameter"


class UnknownParameter(MaasError):
    code, status, title = "unknown_parameter", 400, "Unknown query parameter"


class MalformedJson(MaasError):
    code, status, title = "malformed_json", 400, "Malformed JSON body"


class JsonTooDeep(MaasError):
    code, status, title = "json_too_deep", 400, "JSON nested too deep"


class UnsupportedMediaType(MaasError):
    code, status, title = "unsupported_media_type", 415, "Unsupported media type"


class PayloadTooLarge(MaasError):
    code, status, title = "payload_too_large", 413, "Payload too large"


class ValidationFailed(MaasError):
    code, status, title = "validation_failed", 422, "Validation failed"


class Unauthorized(MaasError):
    code, status, title = "unauthorized", 401, "Unauthorized"


class Forbidden(MaasError):
    code, status, title = "forbidden", 403, "Forbidden"


class NotFound(MaasError):
    code, status, title = "not_found", 404, "Not found"


class MethodNotAllowed(MaasError):
    code, status, title = "method_not_allowed", 405, "Method not allowed"


class Conflict(MaasError):
    code, status, title = "conflict", 409, "Conflict"


def is_domain_error(exc: BaseException) -> bool:
    code = getattr(type(exc), "code", None)
    status = getattr(type(exc), "status", None)
    return isinstance(code, str) and isinstance(status, int) and 400 <= status < 600
