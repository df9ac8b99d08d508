"""Bearer JWT verification: who is calling, with which role and scope.

Two modes, chosen by configuration and never mixed:

- ``jwt_jwks_url`` set: asymmetric ID tokens (Firebase Auth / Identity Platform) whose
  keys come from that JWKS; only RS256 and ES256 are accepted.
- otherwise ``jwt_secret``: tokens signed with the shared secret; only HS256.

Pinning the algorithms per mode is what defeats ``alg: none`` and the classic attack
of signing HS256 with an RSA public key. ``exp``, ``iat``, ``aud``, ``iss`` and ``sub``
are required, ``nbf`` is checked when present, all with a small leeway; then ``role``
and the scope claims that role needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt

from perfcache.api.errors import ApiError
from perfcache.config import Settings
from perfcache.datasets import Role
from perfcache.errors import ConfigError

if TYPE_CHECKING:
    from jwt import PyJWKClient

HS_ALGORITHMS = ["HS256"]
JWKS_ALGORITHMS = ["RS256", "ES256"]

# The claims each role must carry; they are also the columns scope filters apply to.
SCOPE_CLAIMS: dict[Role, tuple[str, ...]] = {
    Role.ADMIN: (),
    Role.SECTOR: ("sector_id",),
    Role.SCHOOL: ("school_id",),
    Role.TEACHER: ("teacher_id", "school_id"),
}
_REQUIRED = ["exp", "iat", "aud", "iss", "sub"]
# Ids are short; a claim longer than this is not one of ours.
_MAX_CLAIM_CHARS = 256
_REALM = 'Bearer realm="perfcache"'


@dataclass(frozen=True)
class Principal:
    """The verified caller: its subject, role and scope claims (column -> value)."""

    sub: str
    role: Role
    claims: Mapping[str, str] = field(default_factory=dict)

    def scope_key(self) -> tuple[str, ...]:
        """What distinguishes this caller's view of the data (for cache keys)."""
        return (self.role.value, *(f"{k}={v}" for k, v in sorted(self.claims.items())))


def unauthorized(description: str) -> ApiError:
    """A 401 whose ``WWW-Authenticate`` tells the client the token was refused."""
    quoted = description.replace('"', "'")
    challenge = f'{_REALM}, error="invalid_token", error_description="{quoted}"'
    return ApiError(
        401,
        "unauthorized",
        f"{description}; send 'Authorization: Bearer <JWT>' with a valid token",
        headers={"WWW-Authenticate": challenge},
    )


class Verifier:
    """Checks a bearer token against the configured keys; built once per instance."""

    def __init__(self, settings: Settings) -> None:
        if not settings.jwt_jwks_url and not settings.jwt_secret:
            raise ConfigError(
                "the API needs PERFCACHE_JWT_SECRET (HS256) or "
                "PERFCACHE_JWT_JWKS_URL (RS256/ES256); neither is set. Locally, "
                "make serve sets the development secret."
            )
        self._settings = settings
        self._jwks: PyJWKClient | None = None
        if settings.jwt_jwks_url:
            # Keys are cached by the client; an unknown `kid` refetches the set.
            self._jwks = jwt.PyJWKClient(
                settings.jwt_jwks_url, cache_keys=True, lifespan=300, timeout=5
            )

    def verify(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        claims = self._decode(token)
        return _principal(claims)

    def _decode(self, token: str) -> dict[str, Any]:
        settings = self._settings
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = JWKS_ALGORITHMS
            else:
                key = settings.jwt_secret
                algorithms = HS_ALGORITHMS
            decoded: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_s,
                options={"require": _REQUIRED},
            )
        except jwt.PyJWKClientConnectionError as error:
            raise ApiError(
                503,
                "auth_keys_unavailable",
                "the signing keys could not be fetched; retry shortly",
                headers={"Retry-After": "5"},
            ) from error
        except jwt.PyJWTError as error:
            raise unauthorized(_describe(error)) from error
        return decoded


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(
            401,
            "unauthorized",
            "no bearer token; send 'Authorization: Bearer <JWT>'",
            headers={"WWW-Authenticate": _REALM},
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <JWT>'")
    return token.strip()


def _describe(error: jwt.PyJWTError) -> str:
    """A short reason for the refusal that reveals nothing about the keys."""
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
        (jwt.InvalidAudienceError, "the token is for another audience"),
        (jwt.InvalidIssuerError, "the token is from another issuer"),
        (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
        (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted"),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
    ]
    for kind, reason in reasons:
        if isinstance(error, kind):
            if isinstance(error, jwt.MissingRequiredClaimError):
                return f"{reason} ({error.claim!r})"
            return reason
    return "the token could not be verified"


def _principal(claims: Mapping[str, Any]) -> Principal:
    """Role and scope from verified claims; a missing or odd claim is a 401."""
    sub = _claim(claims, "sub")
    raw_role = _claim(claims, "role")
    try:
        role = Role(raw_role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise unauthorized(
            f"unknown role {raw_role!r}; expected one of {known}"
        ) from None
    scope = {name: _claim(claims, name) for name in SCOPE_CLAIMS[role]}
    return Principal(sub=sub, role=role, claims=scope)


def _claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > _MAX_CLAIM_CHARS:
        raise unauthorized(f"the token needs a non-empty string claim {name!r}")
    return value
