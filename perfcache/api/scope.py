"""Which rows each role may read, and the 403 for asking outside them.

Per dataset the declaration names the column that holds each role's scope value
(``Dataset.scope``); the value comes from the caller's claim of the same name. The
API adds ``column == claim`` to every Firestore query, so scope is enforced by the
database, not by filtering rows afterwards.

A query parameter naming a column the caller holds a claim for must equal that claim:
a school user asking for ``school_id`` of another school gets a 403, never a widened
or silently dropped filter. The aggregate levels add one rule: ``level=overall`` is
for admins, ``level=sector`` for admins and sector users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from perfcache.api.auth import Principal
from perfcache.api.errors import forbidden
from perfcache.datasets import Dataset, Role

# aggregated_data rows by level, and the roles allowed to ask for that level.
LEVEL_ROLES: dict[str, frozenset[Role]] = {
    "overall": frozenset({Role.ADMIN}),
    "sector": frozenset({Role.ADMIN, Role.SECTOR}),
    "school": frozenset(Role),
}


@dataclass(frozen=True)
class Scope:
    """The equality the query must carry for this caller, or none for an admin."""

    column: str | None = None
    value: str | None = None

    def equality(self) -> tuple[tuple[str, str], ...]:
        if self.column is None or self.value is None:
            return ()
        return ((self.column, self.value),)


def scope_for(principal: Principal, dataset: Dataset) -> Scope:
    """The caller's scope on ``dataset``; 403 when its role may not read it."""
    if principal.role is Role.ADMIN:
        return Scope()
    column = dataset.scope.get(principal.role)
    if column is None:
        raise forbidden(
            f"role {principal.role.value!r} may not read {dataset.name}",
            dataset=dataset.name,
        )
    return Scope(column=column, value=principal.claims[column])


def check_filters(
    principal: Principal, dataset: Dataset, equalities: Mapping[str, str]
) -> None:
    """403 when an equality filter (column -> value) reaches outside the caller."""
    for column, value in equalities.items():
        claimed = principal.claims.get(column)
        if claimed is not None and value != claimed:
            param = _param_for(dataset, column)
            raise forbidden(
                f"{param}={value!r} is outside your scope; your token allows "
                f"{column}={claimed!r} only",
                parameter=param,
            )
    level = equalities.get("level")
    if (
        dataset.name == "aggregated_data"
        and level in LEVEL_ROLES
        and principal.role not in LEVEL_ROLES[level]
    ):
        raise forbidden(
            f"level={level} is not available to role {principal.role.value!r}",
            parameter="level",
        )


def needs_school_membership(principal: Principal, equalities: Mapping[str, str]) -> str:
    """The school a sector user named, which must be checked to lie in its sector.

    The token of a sector user carries no list of its schools; the API looks the
    school up in ``school_data`` (cached per generation). Empty when nothing to check.
    """
    if principal.role is Role.SECTOR:
        return equalities.get("school_id", "")
    return ""


def school_outside_sector(school_id: str, principal: Principal) -> Exception:
    return forbidden(
        f"school_id={school_id!r} is not in your sector "
        f"{principal.claims.get('sector_id')!r}",
        parameter="school_id",
    )


def _param_for(dataset: Dataset, column: str) -> str:
    return next((f.param for f in dataset.filters if f.column == column), column)
