"""From result rows to row documents: ids, encoded rows, content hashes, checksums.

The row hash is a sha256 of a canonical text of the encoded row, so it is the same for
the same values whichever read path (REST or Arrow) produced them. One deliberate
tolerance: a FLOAT64 value enters the hash rounded to 26 bits of mantissa (a relative
step of about 1.5e-8). BigQuery documents that floating-point aggregates (AVG, SUM of
FLOAT64) are not bit-reproducible between runs, and the local server shows the same:
about 1 aggregated row in 10 differs by up to a dozen units in the last place from one
run to the next. Hashing every bit would rewrite those rows on every sync. The rounding
is binary, not decimal, on purpose: averages of decimal data often have an exact short
decimal expansion (4579.417 / 64 = 71.553390625) that sits exactly on a decimal
rounding boundary, so "10 significant digits" flips on last-bit noise, while a binary
grid point is crossed only by chance (about 1 in 5 million noisy values). Any real
change of a dashboard metric (one observation among a million moves an average by about
1e-6) still changes the hash. The stored value is always the exact value of the run
that last wrote the row.

The dataset checksum combines every (id, hash) pair in an order-independent sum, so it
can be computed while streaming and recomputed by anyone from the stored documents.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perfcache import docids, values
from perfcache.errors import InvalidKeyError, ValueConversionError
from perfcache.sync.writer import row_fields

FLOAT_HASH_BITS = 26
_MODULUS = 2**256


@dataclass(frozen=True)
class Encoded:
    doc_id: str
    key: tuple[Any, ...]
    data: dict[str, Any]
    row_hash: str
    # Firestore storage size of the row document; slot collection names have one
    # length, so it holds for both slots and the writer need not measure again.
    size: int


@dataclass(frozen=True)
class Rejected:
    # The row's id, or a description of its key when the key cannot make one.
    doc_id: str
    reason: str
    keyed: bool = True


class RowCodec:
    """Encodes rows of one result for one dataset's collection."""

    def __init__(
        self,
        schema: Sequence[Any],
        key_columns: Sequence[str],
        collection: str,
        json_text: bool,
    ) -> None:
        self._encode: Callable[[Mapping[str, Any]], dict[str, Any]] = (
            values.row_encoder(schema, json_text=json_text)
        )
        self._key_columns = tuple(key_columns)
        self._collection = collection

    def encode(self, row: Mapping[str, Any]) -> Encoded | Rejected:
        """The row's document, or why Firestore cannot hold it."""
        key = self.key_of(row)
        try:
            doc_id = docids.doc_id(key)
        except InvalidKeyError as error:
            return Rejected(
                docids.describe_key(self._key_columns, key), str(error), keyed=False
            )
        try:
            data = self._encode(row)
        except ValueConversionError as error:
            return Rejected(doc_id, str(error))
        row_hash = content_hash(data)
        fields = row_fields(data, row_hash)
        size = values.document_size(self._collection, doc_id, fields)
        problem = values.row_problem(
            fields, doc_id, collection=self._collection, size=size
        )
        if problem is not None:
            return Rejected(doc_id, problem)
        return Encoded(doc_id, key, data, row_hash, size)

    def doc_id_of(self, row: Mapping[str, Any]) -> str | None:
        """The id of a row, or None when its key cannot make one.

        With ``values``, what a second read of a result ``encode`` accepted needs: the
        same query result holds the same rows, so the checks and the hash of the
        first read still stand.
        """
        try:
            return docids.doc_id(self.key_of(row))
        except InvalidKeyError:
            return None  # rejected by encode, never written

    def key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row's key values, in the declared order."""
        return tuple(row.get(column) for column in self._key_columns)

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The stored values of a row ``encode`` accepted (raises
        ValueConversionError for one it rejected for its values)."""
        return self._encode(row)


def content_hash(data: Mapping[str, Any]) -> str:
    """sha256 (hex, first 32 characters) of the encoded row's canonical text."""
    text = _canonical(data)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def hash_bytes(stored: object) -> bytes:
    """A stored ``_h`` as the 16 bytes the sync keeps per row; b"" (equal to no row
    hash) for anything else a document may hold there."""
    try:
        return bytes.fromhex(stored) if isinstance(stored, str) else b""
    except ValueError:
        return b""


def _canonical(value: Any) -> str:
    # Tagged so values of different types never share a text (1, 1.0, "1", True).
    if value is None:
        return "n"
    if isinstance(value, bool):
        return "b1" if value else "b0"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, float):
        return "f" + _float_key(value)
    if isinstance(value, str):
        return "s" + json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return "y" + value.hex()
    if isinstance(value, datetime):
        return "t" + values.timestamp_json(value)
    if isinstance(value, Mapping):
        items = sorted(value.items())
        body = ",".join(f"{json.dumps(key)}:{_canonical(item)}" for key, item in items)
        return "{" + body + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    return f"?{type(value).__name__}:{value!r}"


def _float_key(value: float) -> str:
    """The value rounded to FLOAT_HASH_BITS of mantissa: ``<mantissa>e<exponent>``."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    mantissa, exponent = math.frexp(value)  # value = mantissa * 2**exponent
    scaled = round(mantissa * 2**FLOAT_HASH_BITS)
    if abs(scaled) == 2**FLOAT_HASH_BITS:
        # Rounded up to the next power of two: write it the way frexp would.
        scaled //= 2
        exponent += 1
    return f"{scaled}e{exponent}"


class Checksum:
    """Order-independent checksum of a set of (doc id, row hash) pairs."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = 0

    def add(self, doc_id: str, row_hash: str) -> None:
        pair = f"{doc_id}\x00{row_hash}".encode("utf-8", "surrogatepass")
        self._sum = (self._sum + int.from_bytes(hashlib.sha256(pair).digest())) % (
            _MODULUS
        )
        self.count += 1

    def hexdigest(self) -> str:
        return f"{self.count}:{self._sum:064x}"


def checksum_of(hashes: Mapping[str, str]) -> str:
    """The checksum of stored rows (doc id -> row hash)."""
    checksum = Checksum()
    for doc_id, row_hash in hashes.items():
        checksum.add(doc_id, row_hash)
    return checksum.hexdigest()
