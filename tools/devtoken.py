"""Development JWTs for the local API, signed with a fixed, public, local-only secret.

The secret below is in the repository on purpose: it only ever verifies tokens on a
machine's own `make serve`. A deployed API reads its secret from Secret Manager (or
uses a JWKS) and never this one.

    python -m tools.devtoken --role admin
    python -m tools.devtoken --role sector --scope SEC-01
    python -m tools.devtoken --role school --scope SCH-0003
    python -m tools.devtoken --role teacher --scope T-00042 --school SCH-0003
    python -m tools.devtoken --print-secret

A teacher token needs the teacher's school as well (its aggregates are scoped by it);
the tool looks nothing up, so pass ``--school``. Prints only the token.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from typing import Any

import jwt

from perfcache.config import Settings

# Local development only; long enough for HS256 (RFC 7518 asks for 256 bits).
DEV_SECRET = "perfcache-local-development-secret-never-deployed-0001"  # noqa: S105
DEFAULT_TTL_S = 3600

# Role -> the scope claim --scope fills.
_SCOPE_CLAIM = {
    "sector": "sector_id",
    "school": "school_id",
    "teacher": "teacher_id",
}
ROLES = ("admin", "sector", "school", "teacher")


def claims_for(
    role: str,
    scope: str = "",
    school: str = "",
    settings: Settings | None = None,
    ttl_s: int = DEFAULT_TTL_S,
    now: int | None = None,
) -> dict[str, Any]:
    """The claims of a development token; ValueError names a missing scope."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; found {role!r}")
    settings = settings or Settings.from_env()
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": f"dev-{role}" + (f"-{scope}" if scope else ""),
        "role": role,
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    if role != "admin":
        if not scope:
            raise ValueError(
                f"a {role} token needs --scope <{_SCOPE_CLAIM[role]}> "
                "(make token ROLE=... SCOPE=...)"
            )
        claims[_SCOPE_CLAIM[role]] = scope
    if role == "teacher":
        if not school:
            raise ValueError(
                "a teacher token needs --school <school_id> too "
                f"(make token ROLE=teacher SCOPE={scope} SCHOOL=SCH-0001)"
            )
        claims["school_id"] = school
    elif role == "school" and school and school != scope:
        raise ValueError("--school and --scope differ for a school token")
    return claims


def sign(claims: Mapping[str, Any], secret: str = DEV_SECRET) -> str:
    return jwt.encode(dict(claims), secret, algorithm="HS256")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a local development JWT.")
    parser.add_argument("--role", choices=ROLES, default="admin")
    parser.add_argument("--scope", default="", help="sector, school or teacher id")
    parser.add_argument("--school", default="", help="a teacher's school id")
    parser.add_argument("--ttl-s", type=int, default=DEFAULT_TTL_S)
    parser.add_argument(
        "--print-secret", action="store_true", help="print the dev secret instead"
    )
    args = parser.parse_args(argv)
    if args.print_secret:
        print(DEV_SECRET)
        return 0
    try:
        claims = claims_for(args.role, args.scope, args.school, ttl_s=args.ttl_s)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(sign(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
