"""The HTTP API: role-scoped reads of the Firestore cache, freshness and sync trigger.

    app.py      routing, error bodies, CORS, ETags, the request log line
    auth.py     bearer JWT verification (HS256 secret or a JWKS)
    scope.py    which rows each role may read, and 403 for parameters outside it
    params.py   query parameters: validation, sort order, page tokens
    reads.py    the Firestore queries, always against the served slot
    cache.py    the per-instance pointer and response caches
    openapi.py  the OpenAPI 3.1 document, built from the dataset declarations
    indexes.py  the composite indexes every reachable query shape needs

The deploy entry point is ``functions/api/main.py``.
"""
