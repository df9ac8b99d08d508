"""Document ids from a row's key values, and the duplicate keys of one result.

An id is deterministic and injective: the same key always gets the same id, two
different keys never share one, whatever the values hold (``/``, ``.``, ``__x__``,
the separator, any Unicode, any length). Two forms:

- readable, up to ``MAX_READABLE_ID_BYTES``: each key value as ``<tag>:<text>``, joined
  by ``|``; the tag names the value's type so ``1`` and ``'1'`` differ, and ``%``, ``/``
  and ``|`` in the text are written ``%25``, ``%2F`` and ``%7C``::

      ("T/01", date(2024, 1, 1))  ->  s:T%2F01|d:2024-01-01

- hashed, for longer keys: ``#`` and the sha256 hex digest of the readable form. A
  readable id starts with a tag letter, never ``#``, so the forms cannot collide.

Every id is a valid Firestore id: at most 1,500 bytes, no ``/``, never ``.``, ``..`` or
``__...__`` (it starts with a tag letter or ``#``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from perfcache.errors import DuplicateKeyError, InvalidKeyError, NullKeyError
from perfcache.values import canonical_decimal

# Long ids cost bytes on every index entry of the row (each holds the document name);
# past this a fixed 65-byte hash is cheaper, and still far below Firestore's 1,500.
MAX_READABLE_ID_BYTES = 512

_SEPARATOR = "|"
_HASH_PREFIX = "#"
_ESCAPES = str.maketrans({"%": "%25", "/": "%2F", "|": "%7C"})


def doc_id(key: Sequence[Any]) -> str:
    """The document id for a row whose key columns hold ``key`` (in declared order).

    Raises NullKeyError when a key value is None, InvalidKeyError for a value type a
    key cannot have (RECORD, array, JSON object) or an empty key.
    """
    if not key:
        raise InvalidKeyError(
            "expected at least one key value; found an empty key. Declare the "
            "dataset's key columns."
        )
    readable = _SEPARATOR.join(
        _part(position, value) for position, value in enumerate(key)
    )
    encoded = readable.encode("utf-8")
    if len(encoded) <= MAX_READABLE_ID_BYTES:
        return readable
    return _HASH_PREFIX + hashlib.sha256(encoded).hexdigest()


def _part(position: int, value: Any) -> str:
    if value is None:
        raise NullKeyError(
            f"key value {position + 1} is NULL; a row needs every key column set to "
            "be stored. Filter such rows out in the dataset's SQL or fix the source."
        )
    tag, text = _tagged_text(position, value)
    if any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        raise InvalidKeyError(
            f"key value {position + 1} holds a lone surrogate; expected valid Unicode"
        )
    return f"{tag}:{text.translate(_ESCAPES)}"


def _tagged_text(position: int, value: Any) -> tuple[str, str]:
    # Order matters: bool is an int, datetime is a date.
    if isinstance(value, str):
        return "s", value
    if isinstance(value, bool):
        return "b", "true" if value else "false"
    if isinstance(value, int):
        return "i", str(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float.
        return "f", repr(value)
    if isinstance(value, Decimal) and value.is_finite():
        return "n", canonical_decimal(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            return "t", value.isoformat()
        civil = value.astimezone(UTC).replace(tzinfo=None)
        return "z", civil.isoformat(timespec="microseconds") + "Z"
    if isinstance(value, date):
        return "d", value.isoformat()
    if isinstance(value, time):
        return "h", value.isoformat()
    if isinstance(value, bytes):
        return "y", base64.urlsafe_b64encode(value).decode("ascii")
    raise InvalidKeyError(
        f"key value {position + 1} is a {type(value).__name__} ({value!r:.60}); "
        "expected a STRING, INT64, FLOAT64, NUMERIC, BOOL, BYTES, DATE, TIME, "
        "DATETIME or TIMESTAMP value. Key a dataset on such columns."
    )


def describe_key(columns: Sequence[str], key: Sequence[Any]) -> str:
    """``teacher_id='T1', week_start=2024-01-01``: a key as a reader wants it."""
    return ", ".join(
        f"{name}={_show(value)}" for name, value in zip(columns, key, strict=True)
    )


def _show(value: Any) -> str:
    if isinstance(value, date | time | Decimal):
        return str(value)
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


class DuplicateKeys:
    """Finds keys that occur more than once in one result.

    seen = DuplicateKeys(dataset.key)
    for key in keys:
        seen.add(doc_id(key), key)
    seen.check(dataset.name)  # raises DuplicateKeyError quoting a few
    """

    def __init__(self, columns: Sequence[str], examples: int = 5) -> None:
        self.columns = tuple(columns)
        self.count = 0  # rows whose key an earlier row already had
        self._ids: set[str] = set()
        self._examples: list[tuple[Any, ...]] = []
        self._limit = examples

    def add(self, document_id: str, key: Sequence[Any]) -> bool:
        """Records one row's key; False when an earlier row had the same key."""
        if document_id not in self._ids:
            self._ids.add(document_id)
            return True
        self.repeat(key)
        return False

    def repeat(self, key: Sequence[Any]) -> None:
        """Records a row whose key an earlier row had, for a caller that knows it
        without this object's set of ids."""
        self.count += 1
        if len(self._examples) < self._limit:
            self._examples.append(tuple(key))

    @property
    def examples(self) -> list[tuple[Any, ...]]:
        """The first duplicated keys, at most ``examples`` of them."""
        return list(self._examples)

    def error(self, dataset: str) -> DuplicateKeyError | None:
        """The error to fail ``dataset`` with, or None when every key was unique."""
        if not self.count:
            return None
        return DuplicateKeyError(
            f"dataset {dataset!r}: expected one row per key "
            f"({', '.join(self.columns)}); found {self.count} rows repeating an "
            f"earlier key, e.g. {format_keys(self.columns, self._examples)}. Make "
            "the dataset's SQL return one row per key (GROUP BY or ROW_NUMBER) or "
            "declare a key that identifies a row."
        )

    def check(self, dataset: str) -> None:
        """Raises the DuplicateKeyError of ``error`` if there is one."""
        error = self.error(dataset)
        if error is not None:
            raise error


def format_keys(columns: Sequence[str], keys: Iterable[Sequence[Any]]) -> str:
    """A few keys for a message: ``(teacher_id='T1', week_start=2024-01-01); (...)``."""
    return "; ".join(f"({describe_key(columns, key)})" for key in keys)
