"""Every error the product raises on purpose, under one base class.

    PerfcacheError
      ConfigError              a setting is missing or malformed (fatal)
      TransientError           worth retrying: the service may answer next time
      FatalError               retrying cannot help (bad SQL, bad data, bad request)
        DuplicateKeyError      one result holds the same key twice
        RejectLimitError       too many rows Firestore cannot store
        ValueConversionError   one cell has no faithful Firestore form (row rejected)
        InvalidKeyError        one row's key cannot name a document (row rejected)
          NullKeyError         a key column is NULL on that row

The sync asks Pub/Sub to redeliver a message only for a TransientError; ``is_transient``
is the one predicate that decides, for our errors and the Google client's alike.
"""

from __future__ import annotations


class PerfcacheError(Exception):
    """Base of every error the product raises on purpose."""


class ConfigError(PerfcacheError):
    """A setting is missing or malformed; the message names the variable."""


class TransientError(PerfcacheError):
    """A failure that may pass: a retry later can succeed."""


class FatalError(PerfcacheError):
    """A failure that a retry cannot fix."""


class DuplicateKeyError(FatalError):
    """A dataset's result holds one key on more than one row."""


class RejectLimitError(FatalError):
    """More rows were rejected than the configured share allows."""


class ValueConversionError(FatalError):
    """A cell has no faithful Firestore form; the sync rejects that row only."""


class InvalidKeyError(FatalError):
    """A row's key values cannot name a document; the sync rejects that row only."""


class NullKeyError(InvalidKeyError):
    """A key column is NULL on a row, so the row has no identity to store under."""


# gRPC / HTTP status names the Google clients raise that may succeed on retry.
_TRANSIENT_NAMES = frozenset(
    {
        "Aborted",
        "DeadlineExceeded",
        "InternalServerError",
        "ResourceExhausted",
        "ServiceUnavailable",
        "TooManyRequests",
        "BadGateway",
        "GatewayTimeout",
        "RetryError",
    }
)


def underlying(error: BaseException) -> BaseException:
    """The error worth reporting: the one a failed transaction rollback hid.

    When a Firestore transaction cannot even begin (an overloaded or unreachable
    database), the client's ``@transactional`` tries to roll it back and raises
    ``ValueError("The transaction has no transaction ID, so it cannot be rolled
    back.")`` instead, with the real error as its context.
    """
    context = error.__context__
    if (
        isinstance(error, ValueError)
        and context is not None
        and "cannot be rolled back" in str(error)
    ):
        return context
    return error


def describe(error: BaseException) -> str:
    """``Type: message`` of the underlying error, for run logs and reasons."""
    error = underlying(error)
    return f"{type(error).__name__}: {error}"


def is_transient(error: BaseException) -> bool:
    """True when retrying the operation that raised ``error`` may succeed."""
    error = underlying(error)
    if isinstance(error, TransientError):
        return True
    if isinstance(error, PerfcacheError):
        return False
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    return type(error).__name__ in _TRANSIENT_NAMES
