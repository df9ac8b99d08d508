"""Deploy entry of the API function: functions-framework calls ``api`` per request.

The Api object (settings, token verifier, clients, caches) is built on the first
request and reused by every later one on this instance; importing this module stays
cheap so a cold start is short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfcache.api.app import serve

if TYPE_CHECKING:
    import flask


def api(request: flask.Request) -> flask.Response:
    return serve(request)
