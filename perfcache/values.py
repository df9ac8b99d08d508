"""BigQuery cells to Firestore values, and Firestore values to strict JSON.

The sync stores each row as ``encode_row`` builds it; the API serves each stored row as
``row_to_json`` returns it. Every representation keeps the value exactly and reads the
same in a browser (docs/types.md has the full table):

    BigQuery            Firestore                      API JSON
    INT64               integer (64 bits)              number, or a decimal string
                                                       beyond +/-(2^53 - 1)
    FLOAT64             double (NaN, +/-Inf kept)      number, or "NaN" / "Infinity"
                                                       / "-Infinity"
    NUMERIC/BIGNUMERIC  canonical decimal string       the same string
    BOOL, STRING        boolean, string                boolean, string
    BYTES               bytes                          standard padded base64 string
    DATE/TIME/DATETIME  ISO 8601 string, no zone       the same string
    TIMESTAMP           timestamp (UTC, microseconds)  "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    GEOGRAPHY           WKT string                     the same string
    JSON                canonical JSON text string     the same string
    INTERVAL            canonical "Y-M D H:M:S[.F]"    the same string
    RANGE               map {start, end}               object {start, end}
    RECORD / REPEATED   map / array                    object / array
    NULL                null                           null

Column and RECORD field names go through ``encode_column_name``: names Firestore holds
as simple field names stay as they are, any other gets a reversible ``~`` escape.

Firestore refuses some rows whatever their encoding: ``row_problem`` names the reason
before a write is attempted, and ``document_size`` follows Firestore's documented
storage size rules so the sync can size its commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from perfcache import datasets
from perfcache.errors import ValueConversionError

if TYPE_CHECKING:
    from google.cloud.bigquery import SchemaField

# --- Firestore limits (https://firebase.google.com/docs/firestore/quotas) ----------

MAX_DOCUMENT_BYTES = 1_048_576  # 1 MiB, measured with the storage size rules below
MAX_DEPTH = 20  # nesting of maps and arrays under one field; arrays count too
MAX_FIELD_PATH_BYTES = 1_500  # dotted path of every nested field, e.g. d.rec.x
MAX_FIELD_NAME_BYTES = 1_500
MAX_VALUE_BYTES = 1_048_487  # one string or bytes value: 1 MiB - 89 bytes

# Storage size rules (https://firebase.google.com/docs/firestore/storage-size).
_DOCUMENT_NAME_EXTRA = 16
_DOCUMENT_EXTRA = 32
_FIXED_VALUE_BYTES = 8  # integer, double and timestamp alike

# The row document wraps the row in one map (store.DATA_FIELD), so a column value may
# nest one level less than MAX_DEPTH.
_ROW_FIELD = "d"

# --- column names --------------------------------------------------------------------

# A name Firestore takes as a simple field name (no quoting in a field path), which is
# also every classic BigQuery column name.
_SIMPLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_NAME = re.compile(r"__.*__", re.DOTALL)
_ESCAPE = "~"
# Marks the hashed form; "!" is always escaped in the readable form, so "~!" never
# occurs there.
_HASH_MARK = "~!"
_HASH_HEX_CHARS = 64  # sha256
# Every BigQuery name (at most 300 characters) escapes to at most 1 + 300 * 4 = 1,201
# bytes, so stays reversible; the limit leaves room for the `d.` prefix and backtick
# quoting of the data path within Firestore's 1,500-byte field path limit.
MAX_ENCODED_NAME_BYTES = 1_280
_ESCAPED_HEX = re.compile(r"[0-9A-F]{2}")


def encode_column_name(name: str) -> str:
    """The Firestore field name for a BigQuery column or RECORD field name.

    The rule, in order:

    1. A name matching ``[A-Za-z_][A-Za-z0-9_]*`` that is not ``__...__`` stays as it
       is (every classic BigQuery name does).
    2. Any other name becomes ``~`` followed by the name with every character except
       ASCII letters, digits, ``_`` and code points from U+00A0 up written as ``~HH``
       (two upper-case hex digits of the code point): ``a.b`` -> ``~a~2Eb``,
       ``__x__`` -> ``~__x__``, the empty name -> ``~``.
    3. When that is longer than ``MAX_ENCODED_NAME_BYTES`` (no BigQuery name is), the
       name becomes the longest escaped prefix that fits, then ``~!`` and the sha256
       hex digest of the name. This form cannot be decoded: the sync records it in
       the pointer's ``columns`` map.

    The three forms cannot collide: only forms 2 and 3 start with ``~``, and only form
    3 holds ``~!``.
    """
    if _is_plain(name):
        return name
    escaped = _ESCAPE + "".join(_escape_char(char) for char in name)
    if _utf8_len(escaped) <= MAX_ENCODED_NAME_BYTES:
        return escaped
    return _hashed_name(name)


def decode_column_name(encoded: str) -> str:
    """The original name of an encoded name (the inverse of ``encode_column_name``).

    Raises ValueError for the hashed form of an over-long name, which only the pointer's
    ``columns`` map can resolve, and for a string no name encodes to.
    """
    if not encoded.startswith(_ESCAPE):
        if not _is_plain(encoded):
            raise ValueError(
                f"expected an encoded column name; found {encoded!r}, which "
                "encode_column_name never produces"
            )
        return encoded
    if _HASH_MARK in encoded:
        raise ValueError(
            f"column name {encoded[:40]!r}... is the hashed form of an over-long "
            "name; look it up in the pointer's columns map"
        )
    return _unescape(encoded[len(_ESCAPE) :], encoded)


def is_hashed_column_name(encoded: str) -> bool:
    """True for the irreversible form of an over-long name."""
    return encoded.startswith(_ESCAPE) and _HASH_MARK in encoded


def column_map(schema: Sequence[SchemaField]) -> dict[str, str]:
    """Encoded name -> original name, for the pointer's ``columns`` map.

    Holds the top-level columns in result order, then the RECORD field names (at any
    depth) whose encoding cannot be decoded, so ``row_to_json`` can restore them.
    """
    columns = {encode_column_name(field.name): field.name for field in schema}
    for field in _nested_fields(schema):
        encoded = encode_column_name(field.name)
        if is_hashed_column_name(encoded):
            columns.setdefault(encoded, field.name)
    return columns


def _is_plain(name: str) -> bool:
    return (
        _SIMPLE_NAME.fullmatch(name) is not None
        and _RESERVED_NAME.fullmatch(name) is None
        and len(name) <= MAX_ENCODED_NAME_BYTES
    )


def _escape_char(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError(
            f"expected a name of valid Unicode; found a lone surrogate U+{code:04X}"
        )
    if code >= 0xA0 or (char.isascii() and (char.isalnum() or char == "_")):
        return char
    return f"{_ESCAPE}{code:02X}"


def _unescape(body: str, encoded: str) -> str:
    chars: list[str] = []
    position = 0
    while position < len(body):
        char = body[position]
        if char != _ESCAPE:
            chars.append(char)
            position += 1
            continue
        digits = body[position + 1 : position + 3]
        if _ESCAPED_HEX.fullmatch(digits) is None:
            raise ValueError(
                f"expected '~' and two upper-case hex digits in {encoded!r}; "
                f"found {body[position : position + 3]!r}"
            )
        chars.append(chr(int(digits, 16)))
        position += 3
    return "".join(chars)


def _hashed_name(name: str) -> str:
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    budget = MAX_ENCODED_NAME_BYTES - len(_HASH_MARK) - _HASH_HEX_CHARS
    prefix = _ESCAPE
    for char in name:
        piece = _escape_char(char)
        if _utf8_len(prefix) + _utf8_len(piece) > budget:
            break
        prefix += piece
    return f"{prefix}{_HASH_MARK}{digest}"


def _nested_fields(schema: Sequence[SchemaField]) -> Iterator[SchemaField]:
    for field in schema:
        for child in field.fields:
            yield child
            yield from _nested_fields([child])


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


# --- BigQuery cell -> Firestore value ------------------------------------------------

Encoder = Callable[[Any], Any]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NANOS_PER_SECOND = 1_000_000_000


def encode_value(field: SchemaField, value: Any, *, json_text: bool = False) -> Any:
    """The Firestore value for one BigQuery cell of ``field``.

    ``value`` is what google-cloud-bigquery's rows hold, or what a Storage Read API
    Arrow batch's ``to_pylist()`` holds. The two differ only for JSON: the REST client
    parses it, Arrow keeps its text; pass ``json_text=True`` for the latter.

    Raises ValueConversionError when the value does not fit the field's type.
    """
    return _field_encoder(field, json_text)(value)


def encode_row(
    schema: Sequence[SchemaField], row: Mapping[str, Any], *, json_text: bool = False
) -> dict[str, Any]:
    """Encoded column name -> Firestore value, for every column of ``schema``."""
    return row_encoder(schema, json_text=json_text)(row)


def row_encoder(
    schema: Sequence[SchemaField], *, json_text: bool = False
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``encode_row`` with the per-column work done once, for encoding many rows."""
    columns = [
        (field.name, encode_column_name(field.name), _field_encoder(field, json_text))
        for field in schema
    ]

    def encode(row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            encoded: convert(_cell(row, name)) for name, encoded, convert in columns
        }

    return encode


def _cell(row: Mapping[str, Any], name: str) -> Any:
    try:
        return row[name]
    except KeyError:
        raise ValueConversionError(
            f"expected column {name!r} in the row; found only "
            f"{sorted(row.keys())!r}. The schema and the rows must come from the "
            "same result."
        ) from None


def _field_encoder(field: SchemaField, json_text: bool) -> Encoder:
    scalar = _scalar_encoder(field, json_text)

    def nullable(value: Any) -> Any:
        return None if value is None else scalar(value)

    if field.mode != "REPEATED":
        return nullable

    def repeated(value: Any) -> Any:
        if value is None:
            # The REST client gives [] for an empty array; Arrow may give None.
            return []
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            raise _mismatch(field, "a list (REPEATED)", value)
        return [nullable(item) for item in value]

    return repeated


def _scalar_encoder(field: SchemaField, json_text: bool) -> Encoder:
    kind = _TYPE_ALIASES.get(field.field_type.upper(), field.field_type.upper())
    if kind == "RECORD":
        return _record_encoder(field, json_text)
    if kind == "RANGE":
        return _range_encoder(field)
    if kind == "JSON":
        return _json_text_encoder(field) if json_text else _json_value_encoder(field)
    make = _SCALAR_ENCODERS.get(kind)
    if make is None:
        known = ", ".join(sorted({*_SCALAR_ENCODERS, "RECORD", "RANGE", "JSON"}))
        raise ValueConversionError(
            f"column {field.name!r} has BigQuery type {field.field_type!r}, which the "
            f"conversion does not know; expected one of: {known}. Cast it in the "
            "dataset's SQL (e.g. to STRING)."
        )
    return make(field)


_TYPE_ALIASES = {
    "INTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "DECIMAL": "NUMERIC",
    "BIGDECIMAL": "BIGNUMERIC",
    "STRUCT": "RECORD",
}


def _int64(field: SchemaField) -> Encoder:
    def encode(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _mismatch(field, "an int", value)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _mismatch(field, "an int within the INT64 range", value)
        return value

    return encode


def _float64(field: SchemaField) -> Encoder:
    def encode(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, float | int):
            raise _mismatch(field, "a float", value)
        return float(value)

    return encode


def _numeric(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise _mismatch(field, "a Decimal", value)
        number = Decimal(value)
        if not number.is_finite():
            raise _mismatch(field, "a finite Decimal", value)
        return canonical_decimal(number)

    return encode


def canonical_decimal(number: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: the same text whatever the
    scale the client used (REST ``Decimal('1.5')``, Arrow ``Decimal('1.500000000')``).

    Works on the digits directly: ``Decimal.normalize`` would round to the context's
    28 digits, and BIGNUMERIC has up to 77.
    """
    sign, digit_tuple, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"expected a finite Decimal; found {number!r}")  # noqa: TRY004
    digits = "".join(map(str, digit_tuple))
    if exponent >= 0:
        whole, fraction = digits + "0" * exponent, ""
    else:
        digits = digits.rjust(-exponent + 1, "0")
        whole, fraction = digits[:exponent], digits[exponent:].rstrip("0")
    whole = whole.lstrip("0") or "0"
    text = f"{whole}.{fraction}" if fraction else whole
    return "-" + text if sign and text != "0" else text


def _bool(field: SchemaField) -> Encoder:
    def encode(value: Any) -> bool:
        if not isinstance(value, bool):
            raise _mismatch(field, "a bool", value)
        return value

    return encode


def _string(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str:
        if not isinstance(value, str):
            raise _mismatch(field, "a str", value)
        return value

    return encode


def _bytes(field: SchemaField) -> Encoder:
    def encode(value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise _mismatch(field, "bytes", value)
        return bytes(value)

    return encode


def _date(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str:
        # datetime is a date subclass; a DATE cell is never one.
        if isinstance(value, datetime) or not isinstance(value, date):
            raise _mismatch(field, "a datetime.date", value)
        return value.isoformat()

    return encode


def _time(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str:
        if not isinstance(value, time) or value.tzinfo is not None:
            raise _mismatch(field, "a datetime.time without zone", value)
        return value.isoformat()

    return encode


def _datetime(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str:
        # DATETIME is a civil time: no zone to convert from, so none is applied.
        if not isinstance(value, datetime) or value.tzinfo is not None:
            raise _mismatch(field, "a naive datetime.datetime", value)
        return value.isoformat()

    return encode


def _timestamp(field: SchemaField) -> Encoder:
    def encode(value: Any) -> datetime:
        if not isinstance(value, datetime) or value.utcoffset() is None:
            # A str comes from a picosecond-precision column, beyond Firestore's
            # microseconds: truncating it silently would not be faithful.
            raise _mismatch(field, "a timezone-aware datetime.datetime", value)
        return value.astimezone(UTC)

    return encode


def _interval(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str:
        parts = _interval_parts(value)
        if parts is None:
            raise _mismatch(
                field,
                "a dateutil relativedelta (REST), canonical INTERVAL text or a "
                "months/days/nanoseconds value (Arrow)",
                value,
            )
        return canonical_interval(*parts)

    return encode


_INTERVAL_TEXT = re.compile(
    r"(?P<calendar_sign>-?)(?P<years>\d+)-(?P<months>\d+) (?P<days>-?\d+) "
    r"(?P<time_sign>-?)(?P<hours>\d+):(?P<minutes>\d+):(?P<seconds>\d+)"
    r"(?:\.(?P<fraction>\d{1,9}))?"
)


def _interval_parts(value: Any) -> tuple[int, int, int] | None:
    """(months, days, nanoseconds) of an INTERVAL as either client gives it.

    Arrow batches hold BigQuery's canonical text, which is exact. The REST client
    builds a dateutil relativedelta, which folds every 24 hours into a day: an
    INTERVAL '0-0 0 25:0:0' arrives as 1 day 1 hour (see docs/types.md).
    """
    if isinstance(value, str):
        return _parse_interval(value)
    if all(hasattr(value, name) for name in ("months", "days", "nanoseconds")):
        return int(value.months), int(value.days), int(value.nanoseconds)
    if type(value).__name__ != "relativedelta":
        return None
    absolute = ("year", "month", "day", "weekday", "hour", "minute", "second")
    if any(getattr(value, name, None) is not None for name in absolute):
        return None
    seconds = (value.hours * 60 + value.minutes) * 60 + value.seconds
    nanoseconds = seconds * _NANOS_PER_SECOND + value.microseconds * 1_000
    return value.years * 12 + value.months, value.days, nanoseconds


def _parse_interval(text: str) -> tuple[int, int, int] | None:
    match = _INTERVAL_TEXT.fullmatch(text)
    if match is None:
        return None
    calendar = -1 if match["calendar_sign"] else 1
    clock = -1 if match["time_sign"] else 1
    months = calendar * (int(match["years"]) * 12 + int(match["months"]))
    seconds = (int(match["hours"]) * 60 + int(match["minutes"])) * 60 + int(
        match["seconds"]
    )
    fraction = int((match["fraction"] or "").ljust(9, "0"))
    return months, int(match["days"]), clock * (seconds * _NANOS_PER_SECOND + fraction)


def canonical_interval(months: int, days: int, nanoseconds: int) -> str:
    """BigQuery's canonical INTERVAL text, ``[-]Y-M [-]D [-]H:M:S[.F]``."""
    years, month = divmod(abs(months), 12)
    seconds, fraction = divmod(abs(nanoseconds), _NANOS_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    calendar_sign = "-" if months < 0 else ""
    time_sign = "-" if nanoseconds < 0 else ""
    text = f"{calendar_sign}{years}-{month} {days} {time_sign}{hours}:{minute}:{second}"
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text


def _json_value_encoder(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str | None:
        return _canonical_json(field, value)

    return encode


def _json_text_encoder(field: SchemaField) -> Encoder:
    def encode(value: Any) -> str | None:
        if not isinstance(value, str):
            raise _mismatch(field, "JSON text (a str)", value)
        try:
            parsed = json.loads(value)
        except ValueError as error:
            raise _mismatch(field, "valid JSON text", value) from error
        return _canonical_json(field, parsed)

    return encode


def _canonical_json(field: SchemaField, parsed: Any) -> str | None:
    # The REST client turns a JSON null into None, like SQL NULL; both paths store it
    # as NULL so a row does not change with the read path.
    if parsed is None:
        return None
    try:
        return json.dumps(
            parsed,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
            sort_keys=True,
        )
    except (TypeError, ValueError) as error:
        raise _mismatch(field, "a value JSON can hold", parsed) from error


def _record_encoder(field: SchemaField, json_text: bool) -> Encoder:
    children = [
        (child.name, encode_column_name(child.name), _field_encoder(child, json_text))
        for child in field.fields
    ]
    names = {name for name, _, _ in children}

    def encode(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _mismatch(field, "a dict (RECORD)", value)
        if set(value) != names:
            raise _mismatch(field, f"a dict with keys {sorted(names)!r}", value)
        return {encoded: convert(value[name]) for name, encoded, convert in children}

    return encode


# The REST client names a RANGE's ends start and end; Arrow batches from the Storage
# Read API name the struct's children __range_start and __range_end.
_RANGE_KEYS = {
    frozenset({"start", "end"}): ("start", "end"),
    frozenset({"__range_start", "__range_end"}): ("__range_start", "__range_end"),
}


def _range_encoder(field: SchemaField) -> Encoder:
    from google.cloud.bigquery import SchemaField

    element = field.range_element_type
    element_type = getattr(element, "element_type", None)
    if element_type not in {"DATE", "DATETIME", "TIMESTAMP"}:
        raise ValueConversionError(
            f"RANGE column {field.name!r} has element type {element_type!r}; expected "
            "DATE, DATETIME or TIMESTAMP."
        )
    bound = _field_encoder(SchemaField(field.name, element_type), json_text=False)

    def encode(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _mismatch(field, "a dict with keys 'start' and 'end'", value)
        keys = _RANGE_KEYS.get(frozenset(value))
        if keys is None:
            raise _mismatch(field, "a dict with keys 'start' and 'end'", value)
        # None is an UNBOUNDED end.
        return {"start": bound(value[keys[0]]), "end": bound(value[keys[1]])}

    return encode


_SCALAR_ENCODERS: dict[str, Callable[[SchemaField], Encoder]] = {
    "INT64": _int64,
    "FLOAT64": _float64,
    "NUMERIC": _numeric,
    "BIGNUMERIC": _numeric,
    "BOOL": _bool,
    "STRING": _string,
    "GEOGRAPHY": _string,  # WKT text from both clients
    "BYTES": _bytes,
    "DATE": _date,
    "TIME": _time,
    "DATETIME": _datetime,
    "TIMESTAMP": _timestamp,
    "INTERVAL": _interval,
}


def _mismatch(field: SchemaField, expected: str, found: Any) -> ValueConversionError:
    shown = repr(found)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ValueConversionError(
        f"column {field.name!r} ({field.field_type}): expected {expected}; found "
        f"{type(found).__name__} {shown}. Check that the rows match the schema."
    )


# --- Firestore value -> JSON ------------------------------------------------------

MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer a JavaScript number holds exactly


def to_json(value: Any) -> Any:
    """A value read back from Firestore as something ``json.dumps(allow_nan=False)``
    takes and a JavaScript client reads without loss (see the module table)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return _float_json(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return timestamp_json(value)
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    raise TypeError(
        f"expected a value the sync stores (null, bool, int, float, str, bytes, "
        f"timestamp, map, array); found {type(value).__name__} {value!r}"
    )


def _float_json(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def timestamp_json(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; a naive datetime is taken as UTC."""
    if value.utcoffset() is not None:
        value = value.astimezone(UTC)
    civil = datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )
    return civil.isoformat(timespec="microseconds") + "Z"


def row_to_json(data: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """A stored row (the ``d`` map) as JSON under its original column names.

    ``columns`` is the pointer's encoded -> original map; its order is the result's
    column order, and it resolves hashed names. RECORD field names are restored too.
    """
    ordered = [name for name in columns if name in data]
    ordered += [name for name in data if name not in columns]
    return {
        _original_name(name, columns): _restore(data[name], columns) for name in ordered
    }


def _restore(value: Any, columns: Mapping[str, str]) -> Any:
    # Every map the sync stores is a RECORD or a RANGE ({start, end}), so every key
    # is an encoded name.
    if isinstance(value, Mapping):
        return {
            _original_name(key, columns): _restore(item, columns)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_restore(item, columns) for item in value]
    return to_json(value)


def _original_name(encoded: str, columns: Mapping[str, str]) -> str:
    original = columns.get(encoded)
    return original if original is not None else decode_column_name(encoded)


# --- rows Firestore cannot store ----------------------------------------------------


def document_size(collection_path: str, doc_id: str, fields: Mapping[str, Any]) -> int:
    """Bytes Firestore counts for a document, by its documented storage size rules.

    Name: each collection and document id as a string (UTF-8 bytes + 1), plus 16.
    Fields: each name as a string plus its value; plus 32 for the document.
    """
    segments = [*collection_path.strip("/").split("/"), doc_id]
    name_size = sum(_string_size(segment) for segment in segments)
    return name_size + _DOCUMENT_NAME_EXTRA + _map_size(fields) + _DOCUMENT_EXTRA


def value_size(value: Any) -> int:
    """Bytes Firestore counts for one field value."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime):
        return _FIXED_VALUE_BYTES
    if isinstance(value, str):
        return _string_size(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Mapping):
        return _map_size(value)
    if isinstance(value, list | tuple):
        return sum(value_size(item) for item in value)
    raise TypeError(
        f"expected a value encode_row produces; found {type(value).__name__} {value!r}"
    )


def _map_size(fields: Mapping[str, Any]) -> int:
    return sum(_string_size(name) + value_size(value) for name, value in fields.items())


def _string_size(text: str) -> int:
    return _utf8_len(text) + 1


def _longest_row_collection() -> str:
    return max((dataset.collection + "_a" for dataset in datasets.DATASETS), key=len)


def row_problem(
    doc: Mapping[str, Any],
    doc_id: str,
    *,
    collection: str | None = None,
    size: int | None = None,
) -> str | None:
    """Why Firestore would refuse the row document ``doc``, or None if it can store it.

    ``doc`` holds the document's fields as written (``{d: row, _h: hash}``).
    ``collection`` is the collection path; by default the longest row collection the
    datasets use, so the size check never passes a row that one of them refuses.
    ``size`` is the document's ``document_size``, when the caller has it already.
    """
    structural = _structure_problem(doc)
    if structural is not None:
        return structural
    if size is None:
        path = _longest_row_collection() if collection is None else collection
        size = document_size(path, doc_id, doc)
    if size > MAX_DOCUMENT_BYTES:
        return (
            f"document is {size:,} bytes by Firestore's storage size rules; the "
            f"limit is {MAX_DOCUMENT_BYTES:,} (1 MiB)"
        )
    return None


def _structure_problem(doc: Mapping[str, Any]) -> str | None:
    """Names, nesting, arrays in arrays, path and value lengths, in one walk."""
    # Each entry: (value, field path so far, path bytes, depth of containers so far).
    stack: list[tuple[Any, str, int, int]] = []
    for name, value in doc.items():
        problem = _name_problem(name, name)
        if problem is not None:
            return problem
        stack.append((value, name, _utf8_len(name), 0))
    while stack:
        value, path, path_bytes, depth = stack.pop()
        if isinstance(value, Mapping):
            depth += 1
            if depth > MAX_DEPTH:
                return _too_deep(path)
            for name, item in value.items():
                child = f"{path}.{name}"
                problem = _name_problem(name, child)
                if problem is not None:
                    return problem
                child_bytes = path_bytes + 1 + _utf8_len(name)
                if child_bytes > MAX_FIELD_PATH_BYTES:
                    return (
                        f"field path {_shorten(child)} is {child_bytes:,} bytes; "
                        f"Firestore allows {MAX_FIELD_PATH_BYTES:,}"
                    )
                stack.append((item, child, child_bytes, depth))
        elif isinstance(value, str | bytes):
            length = len(value) if isinstance(value, bytes) else _utf8_len(value)
            if length > MAX_VALUE_BYTES:
                return (
                    f"field {_shorten(path)} holds a {length:,}-byte value; Firestore "
                    f"allows {MAX_VALUE_BYTES:,} bytes per string or bytes value"
                )
        elif isinstance(value, list | tuple):
            depth += 1
            if depth > MAX_DEPTH:
                return _too_deep(path)
            for item in value:
                if isinstance(item, list | tuple):
                    return (
                        f"field {_shorten(path)} holds an array directly inside an "
                        "array, which Firestore cannot store"
                    )
                stack.append((item, path, path_bytes, depth))
    return None


def _name_problem(name: str, path: str) -> str | None:
    if not name:
        return f"field {_shorten(path)} has an empty name"
    if _RESERVED_NAME.fullmatch(name):
        return f"field {_shorten(path)} has a reserved name (__...__)"
    if _utf8_len(name) > MAX_FIELD_NAME_BYTES:
        return f"field {_shorten(path)} has a name over {MAX_FIELD_NAME_BYTES} bytes"
    return None


def _too_deep(path: str) -> str:
    return (
        f"field {_shorten(path)} nests maps and arrays more than {MAX_DEPTH} levels "
        f"deep (counting the row map {_ROW_FIELD!r}); Firestore allows {MAX_DEPTH}"
    )


def _shorten(path: str) -> str:
    return repr(path if len(path) <= 80 else path[:77] + "...")
