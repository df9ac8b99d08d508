"""The one error type a request handler raises to answer with a JSON error body."""

from __future__ import annotations

from typing import Any

from perfcache.errors import PerfcacheError


class ApiError(PerfcacheError):
    """An answer other than success: HTTP status, stable code, message, details.

    The body is ``{"error": {"code", "message", **details}}``; ``headers`` are added to
    the response (``WWW-Authenticate`` on a 401, ``Allow`` on a 405).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


def bad_parameter(parameter: str, message: str, **details: Any) -> ApiError:
    """A 400 naming the query parameter (or body field) and what was expected."""
    return ApiError(400, "invalid_parameter", message, parameter=parameter, **details)


def forbidden(message: str, **details: Any) -> ApiError:
    return ApiError(403, "forbidden", message, **details)
