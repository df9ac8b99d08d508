"""Query parameters of the data routes: validated, normalized, ordered, paginated.

Every data route accepts its dataset's declared filters plus ``sort``, ``direction``,
``page_size`` and ``page_token``; anything else is a 400 that lists what is allowed.

Order: the ``sort`` field (one of the dataset's ``sortable``) or the declared
``default_sort``, then the document id as tie-breaker, all in ``direction``. Columns
pinned by an equality filter are dropped from the order (their value is constant).

Date ranges (``date_from``/``date_to``) are cursors on the order's first field, not
range filters: a query stays "equalities + order by", which Firestore serves by
merging one composite index per equality (see indexes.py). So a range needs the rows
ordered by its date column: the default order, or ``sort=<that column>``.

Page tokens are opaque base64url JSON: the last row's order values, its document id,
and a fingerprint of the query (route, filters, scope, order) so that a token handed
to another query is a 400 instead of a silent jump.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from perfcache.api.errors import bad_parameter
from perfcache.datasets import Dataset, FilterKind

Direction = Literal["asc", "desc"]

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 500
PAGING_PARAMS = ("sort", "direction", "page_size", "page_token")
# Ids and labels are short; longer values are refused before reaching Firestore.
MAX_VALUE_CHARS = 256
# Tokens hold a few order values; far below the URL limits of browsers and proxies.
MAX_TOKEN_CHARS = 2048
DOC_ID = "__name__"
_MAX_DOC_ID_BYTES = 1500  # Firestore's document id limit
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Filters whose values form a closed set: refused early with the choices listed.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("aggregated_data", "period"): ("weekly", "monthly"),
    ("aggregated_data", "level"): ("school", "sector", "overall"),
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ReadRequest:
    """One validated read of a dataset, before the caller's scope is added."""

    dataset: Dataset
    equalities: tuple[tuple[str, str], ...] = ()  # (column, value), sorted
    date_from: date | None = None
    date_to: date | None = None
    sort: str | None = None
    direction: Direction = "asc"
    page_size: int = PAGE_SIZE_DEFAULT
    page_token: str | None = None

    def normalized(self) -> tuple[Any, ...]:
        """Everything that changes the answer, in a stable form (for cache keys)."""
        return (
            self.dataset.name,
            self.equalities,
            self.date_from.isoformat() if self.date_from else "",
            self.date_to.isoformat() if self.date_to else "",
            self.sort or "",
            self.direction,
            self.page_size,
            self.page_token or "",
        )


@dataclass(frozen=True)
class Cursor:
    """Where the previous page stopped: its last row's order values and id."""

    values: tuple[Any, ...]
    doc_id: str


def allowed_params(dataset: Dataset, paginated: bool = True) -> tuple[str, ...]:
    names = [f.param for f in dataset.filters]
    if paginated:
        names += PAGING_PARAMS
    return tuple(names)


def parse(
    dataset: Dataset, args: Mapping[str, Sequence[str]], paginated: bool = True
) -> ReadRequest:
    """The validated request, or a 400 naming the parameter and what it expects."""
    allowed = allowed_params(dataset, paginated)
    values = _single_values(args, allowed)

    equalities: dict[str, str] = {}
    dates: dict[FilterKind, date] = {}
    for declared in dataset.filters:
        raw = values.get(declared.param)
        if raw is None:
            continue
        if declared.kind is FilterKind.EQUAL:
            equalities[declared.column] = _choice(dataset, declared.param, raw)
        else:
            dates[declared.kind] = _date(declared.param, raw)
    date_from, date_to = dates.get(FilterKind.FROM), dates.get(FilterKind.TO)
    if date_from and date_to and date_from > date_to:
        raise bad_parameter(
            "date_to",
            f"date_to ({date_to}) must not be before date_from ({date_from})",
        )

    request = ReadRequest(
        dataset=dataset,
        equalities=tuple(sorted(equalities.items())),
        date_from=date_from,
        date_to=date_to,
        sort=_sort(dataset, values.get("sort")),
        direction=_direction(values.get("direction"), values.get("sort")),
        page_size=_page_size(values.get("page_size")),
        page_token=values.get("page_token"),
    )
    _check_range_order(request)
    return request


def range_column(dataset: Dataset) -> str | None:
    """The column the dataset's date_from/date_to filters bound, if any."""
    return next(
        (f.column for f in dataset.filters if f.kind is not FilterKind.EQUAL), None
    )


def order_columns(
    dataset: Dataset, sort: str | None, equality_columns: Iterable[str]
) -> tuple[str, ...]:
    """The columns rows are ordered by, before the document id tie-breaker."""
    pinned = set(equality_columns)
    base = (sort,) if sort else dataset.default_sort
    return tuple(column for column in base if column not in pinned)


def fingerprint(request: ReadRequest, scope: Sequence[tuple[str, str]]) -> str:
    """Identifies the query a page token belongs to (everything but the page)."""
    material = json.dumps(
        [
            request.dataset.route,
            list(request.equalities),
            list(scope),
            str(request.date_from or ""),
            str(request.date_to or ""),
            request.sort or "",
            request.direction,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()[:20]


def encode_token(cursor: Cursor, query_fingerprint: str) -> str:
    payload = {
        "v": [_encode_value(value) for value in cursor.values],
        "id": cursor.doc_id,
        "f": query_fingerprint,
    }
    raw = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, query_fingerprint: str, order_length: int) -> Cursor:
    """The cursor in ``token``; a 400 when it is malformed or from another query."""
    expected = "the next_page_token returned by the previous page of this same query"
    try:
        payload = _token_payload(token)
        values = tuple(_decode_value(value) for value in payload["v"])
        doc_id = payload["id"]
        found_fingerprint = payload["f"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as error:
        raise bad_parameter(
            "page_token", f"page_token is not valid; expected {expected}"
        ) from error
    well_formed = (
        isinstance(doc_id, str)
        and _valid_doc_id(doc_id)
        and len(values) == order_length
        and all(_storable(value) for value in values)
    )
    if not well_formed:
        raise bad_parameter(
            "page_token", f"page_token is not valid; expected {expected}"
        )
    if found_fingerprint != query_fingerprint:
        raise bad_parameter(
            "page_token", f"page_token belongs to another query; expected {expected}"
        )
    return Cursor(values=values, doc_id=doc_id)


def _valid_doc_id(doc_id: str) -> bool:
    """What Firestore takes as a document id; a crafted token must not reach it."""
    return (
        0 < len(doc_id.encode("utf-8")) <= _MAX_DOC_ID_BYTES
        and "/" not in doc_id
        and doc_id not in (".", "..")
        and not (doc_id.startswith("__") and doc_id.endswith("__"))
    )


def _storable(value: Any) -> bool:
    """Cursor values Firestore accepts: integers must fit 64 bits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT64_MIN <= value <= _INT64_MAX
    return True


def _token_payload(token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError("page token too long")
    padded = token + "=" * (-len(token) % 4)
    payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(payload, dict):
        raise TypeError("page token payload is not an object")
    return payload


def _single_values(
    args: Mapping[str, Sequence[str]], allowed: Sequence[str]
) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in sorted(args):
        given = args[name]
        if name not in allowed:
            listed = ", ".join(allowed) if allowed else "none"
            raise bad_parameter(
                name,
                f"unknown query parameter {name!r}; allowed: {listed}",
                allowed=list(allowed),
            )
        if len(given) != 1:
            raise bad_parameter(
                name, f"{name} was given {len(given)} times; give it once"
            )
        value = given[0]
        limit = MAX_TOKEN_CHARS if name == "page_token" else MAX_VALUE_CHARS
        if not value or len(value) > limit:
            raise bad_parameter(
                name, f"{name} must be a non-empty value of at most {limit} characters"
            )
        values[name] = value
    return values


def _choice(dataset: Dataset, param: str, raw: str) -> str:
    choices = CHOICES.get((dataset.name, param))
    if choices and raw not in choices:
        raise bad_parameter(
            param,
            f"{param} must be one of {', '.join(choices)}; found {raw!r}",
            allowed=list(choices),
        )
    return raw


def _date(param: str, raw: str) -> date:
    message = f"{param} must be a date as YYYY-MM-DD; found {raw!r}"
    if not _DATE.fullmatch(raw):
        raise bad_parameter(param, message)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_parameter(param, message) from None


def _sort(dataset: Dataset, raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw not in dataset.sortable:
        allowed = ", ".join(dataset.sortable) or "none (fixed order)"
        raise bad_parameter(
            "sort",
            f"sort must be one of: {allowed}; found {raw!r}",
            allowed=list(dataset.sortable),
        )
    return raw


def _direction(raw: str | None, sort: str | None) -> Direction:
    if raw is None:
        return "asc"
    if raw not in ("asc", "desc"):
        raise bad_parameter(
            "direction",
            f"direction must be asc or desc; found {raw!r}",
            allowed=["asc", "desc"],
        )
    if sort is None and raw == "desc":
        # The default order is ascending only: each reversed order costs a
        # composite index per filter, and the database allows 200 (indexes.py).
        raise bad_parameter(
            "direction", "direction=desc needs sort=<field>; the default order is asc"
        )
    return "asc" if raw == "asc" else "desc"


def _page_size(raw: str | None) -> int:
    if raw is None:
        return PAGE_SIZE_DEFAULT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise bad_parameter(
            "page_size",
            f"page_size must be a whole number from 1 to {PAGE_SIZE_MAX}; "
            f"found {raw!r}",
        )
    return int(raw)


def _check_range_order(request: ReadRequest) -> None:
    if request.date_from is None and request.date_to is None:
        return
    column = range_column(request.dataset)
    order = order_columns(
        request.dataset, request.sort, (c for c, _ in request.equalities)
    )
    if not order or order[0] != column:
        raise bad_parameter(
            "sort",
            f"date_from/date_to need the rows ordered by {column}; "
            f"drop sort or use sort={column}",
        )


def _encode_value(value: Any) -> list[Any]:
    """A typed JSON form of a Firestore order value (floats keep NaN and infinity)."""
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        return ["f", repr(value)]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, datetime):
        return ["t", value.astimezone(UTC).isoformat()]
    if isinstance(value, bytes):
        return ["y", base64.b64encode(value).decode()]
    raise TypeError(f"cannot put a {type(value).__name__} in a page token")


def _decode_value(encoded: Any) -> Any:
    kind, *rest = encoded
    if kind == "n" and not rest:
        return None
    (raw,) = rest
    if kind == "b" and isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise TypeError(f"page token value of kind {kind!r} must be text")
    if kind == "s":
        return raw
    if kind == "i":
        return int(raw)
    if kind == "f":
        return float(raw)
    if kind == "t":
        return datetime.fromisoformat(raw)
    if kind == "y":
        return base64.b64decode(raw, validate=True)
    raise ValueError(f"unknown page token value kind {kind!r}")
