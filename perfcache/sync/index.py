"""The ids and row hashes of one result, kept in fixed-width arrays.

The sync needs two things of every row between reading a result and writing it: is
this id in the result, and with which hash. Held as Python objects (an id string, a
hash bytes object, a dict entry) that costs about 160 bytes a row, and the long-lived
objects, allocated between each page's short-lived ones, keep the allocator from
returning pages to the system: the large sample's 1.7 million rows then cost well over
the 300 MB a sync is allowed. Here each row is one 32-byte record (a 16-byte blake2b
digest of its id, then its 16-byte hash), sorted by digest once the result is read and
searched a page of ids at a time; a sorted copy of the digests makes the search
contiguous, so a row costs 48 bytes in all.

Two different ids share a 16-byte digest with a probability of about n^2 / 2^129, far
below any hardware fault rate for the largest results a sync can hold.

    index = RowIndex()
    for doc_id, row_hash in rows:
        index.add(doc_id, row_hash)
    repeated = index.freeze()  # digests of ids that occur more than once
    positions = index.positions(["s:T1|d:2025-09-01"])  # -1 where absent
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

DIGEST_BYTES = 16
HASH_BYTES = 16
_RECORD = np.dtype([("key", f"S{DIGEST_BYTES}"), ("hash", f"S{HASH_BYTES}")])

Positions = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]


def digest(doc_id: str) -> bytes:
    """The 16 bytes that stand for ``doc_id`` in an index."""
    return hashlib.blake2b(
        doc_id.encode("utf-8", "surrogatepass"), digest_size=DIGEST_BYTES
    ).digest()


class RowIndex:
    """One result's (id digest, row hash) pairs: appended while reading, then
    frozen into sorted arrays that answer lookups by id."""

    def __init__(self) -> None:
        self._pending: bytearray | None = bytearray()
        self._records: npt.NDArray[np.void] = np.empty(0, dtype=_RECORD)
        self._keys: npt.NDArray[np.bytes_] = np.empty(0, dtype=f"S{DIGEST_BYTES}")
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, doc_id: str, row_hash: bytes) -> None:
        """Appends one row; ``row_hash`` is its 16-byte content hash."""
        if self._pending is None:
            raise RuntimeError(
                "expected an open index; found it frozen. Add every row before "
                "freeze()."
            )
        if len(row_hash) != HASH_BYTES:
            raise ValueError(
                f"expected a {HASH_BYTES}-byte row hash; found {len(row_hash)} bytes. "
                "Pass the digest's bytes, not its hex text."
            )
        self._pending += digest(doc_id)
        self._pending += row_hash
        self.count += 1

    def freeze(self) -> set[bytes]:
        """Sorts the rows for lookups; returns the digests that occur more than once
        (a result with repeated ids cannot be stored, so the caller stops there)."""
        if self._pending is None:
            return set()
        pending, self._pending = self._pending, None

        # Sorting the records as 32-byte strings orders them by digest (the first
        # 16 bytes), in place in the buffer they were appended to: no second copy.
        flat = np.frombuffer(pending, dtype=f"S{DIGEST_BYTES + HASH_BYTES}")
        flat.sort()
        self._records = flat.view(_RECORD)
        self._keys = np.ascontiguousarray(self._records["key"])

        same = self._keys[1:] == self._keys[:-1]
        if not same.any():
            return set()
        return {bytes(self._padded_key(int(i))) for i in np.flatnonzero(same)}

    def positions(self, doc_ids: Sequence[str]) -> Positions:
        """Each id's position in the frozen index, or -1 where it is not there."""
        return self.positions_of_digests(_digests(doc_ids))

    def positions_of_digests(self, keys: npt.NDArray[np.bytes_]) -> Positions:
        """Each digest's position in the frozen index, or -1 where it is not there.

        An open index refuses: it would answer -1 for every id, and a diff would then
        take every stored row for a vanished one.
        """
        if self._pending is not None:
            raise RuntimeError(
                "expected a frozen index; found it still open. Call freeze() after "
                "the last add()."
            )
        if not len(self._keys) or not len(keys):
            return np.full(len(keys), -1, dtype=np.intp)
        found = np.searchsorted(self._keys, keys)
        clipped = np.minimum(found, len(self._keys) - 1)
        hit = self._keys[clipped] == keys
        return np.where(hit, clipped, -1).astype(np.intp)

    def position(self, doc_id: str) -> int:
        """One id's position, or -1; for a page of ids, ``positions`` is faster."""
        return int(self.positions([doc_id])[0])

    def hash_at(self, position: int) -> bytes:
        """The 16-byte row hash at ``position`` (trailing zero bytes kept)."""
        return self._records[position : position + 1]["hash"].tobytes()

    def hashes_at(self, positions: Positions) -> npt.NDArray[np.bytes_]:
        """The row hashes at ``positions``, as fixed-width values to compare."""
        return self._records["hash"][positions]

    def _padded_key(self, position: int) -> bytes:
        return self._keys[position : position + 1].tobytes()


@dataclass
class Selection:
    """Some rows of one index: the ones a slot needs written."""

    mask: Mask

    @classmethod
    def every(cls, index: RowIndex) -> Selection:
        return cls(np.ones(len(index), dtype=np.bool_))

    @classmethod
    def union(cls, selections: Iterable[Selection], size: int) -> Selection:
        mask = np.zeros(size, dtype=np.bool_)
        for selection in selections:
            mask |= selection.mask
        return cls(mask)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.mask))

    def holds(self, position: int) -> bool:
        return position >= 0 and bool(self.mask[position])

    def holds_all(self, positions: Positions) -> Mask:
        """For each position, whether it is selected (False for -1)."""
        inside = positions >= 0
        held = np.zeros(len(positions), dtype=np.bool_)
        held[inside] = self.mask[positions[inside]]
        return held


@dataclass
class Comparison:
    """What a slot holding some documents needs to hold an index's rows."""

    changed: Selection
    vanished: list[str] = field(default_factory=list)
    # Rows of the index already stored in the slot, with any hash.
    present: int = 0

    @property
    def inserted(self) -> int:
        return len(self.changed.mask) - self.present

    @property
    def updated(self) -> int:
        return len(self.changed) - self.inserted


def compare(
    index: RowIndex, stored: Iterable[Sequence[tuple[str, bytes]]]
) -> Comparison:
    """Streams a slot's (id, stored hash) pages against a frozen index.

    A stored hash that is not 16 bytes (a document some other writer left) never
    matches, so its row is written again.
    """
    result = Comparison(Selection.every(index))
    for page in stored:
        if not page:
            continue
        ids = [doc_id for doc_id, _ in page]
        positions = index.positions(ids)
        inside = positions >= 0
        result.present += int(np.count_nonzero(inside))
        result.vanished.extend(ids[i] for i in np.flatnonzero(~inside))

        held = positions[inside]
        hashes = [
            row_hash for (_, row_hash), there in zip(page, inside, strict=True) if there
        ]
        well_formed = np.fromiter(
            (len(h) == HASH_BYTES for h in hashes), dtype=np.bool_, count=len(hashes)
        )
        stored_hashes = np.array(
            [h if len(h) == HASH_BYTES else b"" for h in hashes],
            dtype=f"S{HASH_BYTES}",
        )
        same = well_formed & (index.hashes_at(held) == stored_hashes)
        result.changed.mask[held[same]] = False
    return result


def _digests(doc_ids: Sequence[str]) -> npt.NDArray[np.bytes_]:
    joined = b"".join(digest(doc_id) for doc_id in doc_ids)
    return np.frombuffer(joined, dtype=f"S{DIGEST_BYTES}")
