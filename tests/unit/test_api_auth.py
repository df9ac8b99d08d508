"""Token verification: the attack table in both modes, each refused with a 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from perfcache.api.auth import Principal, Verifier
from perfcache.api.errors import ApiError
from perfcache.config import Settings
from perfcache.datasets import Role
from perfcache.errors import ConfigError
from tests.api_support import AUDIENCE, ISSUER, SECRET, Keys, claims, jwks_server


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hand_signed(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """A token signed outside pyjwt, which refuses some of these on purpose."""
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{payload}.{flipped}"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def hs_verifier() -> Verifier:
    return Verifier(
        Settings(jwt_secret=SECRET, jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
    )


@pytest.fixture(scope="module")
def jwks_verifier(keys: Keys) -> Iterator[Verifier]:
    with jwks_server(keys.jwks()) as url:
        yield Verifier(
            Settings(jwt_jwks_url=url, jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
        )


def _claims(changes: dict[str, Any]) -> dict[str, Any]:
    return claims(changes.pop("role", "admin"), **changes)


def _hs(**changes: Any) -> str:
    return jwt.encode(_claims(changes), SECRET, algorithm="HS256")


def _unsigned(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, "", algorithm="none")


NOW = int(time.time())
HS_ATTACKS: list[tuple[str, Callable[[], str]]] = [
    ("alg none", lambda: _unsigned(claims("admin"))),
    ("expired", lambda: _hs(exp=NOW - 3600, iat=NOW - 7200)),
    ("not yet valid", lambda: _hs(nbf=NOW + 3600)),
    ("issued in the future", lambda: _hs(iat=NOW + 3600, exp=NOW + 7200)),
    ("wrong aud", lambda: _hs(aud="someone-else")),
    ("wrong iss", lambda: _hs(iss="https://evil.example")),
    ("tampered signature", lambda: _tampered(_hs())),
    ("tampered payload", lambda: _hs().replace(_hs().split(".")[1], _b64(b"{}"))),
    ("other secret", lambda: jwt.encode(claims("admin"), "x" * 40, algorithm="HS256")),
    ("missing role", lambda: _hs(role=None)),
    ("unknown role", lambda: _hs(role="superuser")),
    ("missing sub", lambda: _hs(sub=None)),
    ("missing exp", lambda: _hs(exp=None)),
    ("missing aud", lambda: _hs(aud=None)),
    ("sector without sector_id", lambda: _hs(role="sector")),
    ("school without school_id", lambda: _hs(role="school")),
    ("teacher without school_id", lambda: _hs(role="teacher", teacher_id="T-1")),
    ("scope claim not a string", lambda: _hs(role="school", school_id=7)),
    ("not a JWT", lambda: "not-a-token"),
]


@pytest.mark.parametrize(("name", "make"), HS_ATTACKS, ids=[n for n, _ in HS_ATTACKS])
def test_hs_mode_refuses_with_401(
    hs_verifier: Verifier, name: str, make: Callable[[], str]
) -> None:
    with pytest.raises(ApiError) as caught:
        hs_verifier.verify(f"Bearer {make()}")
    assert caught.value.status == 401, name
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"]
)
def test_missing_or_malformed_header_is_401(
    hs_verifier: Verifier, header: str | None
) -> None:
    with pytest.raises(ApiError) as caught:
        hs_verifier.verify(header)
    assert caught.value.status == 401
    assert "WWW-Authenticate" in caught.value.headers


def test_hs_mode_accepts_each_role_with_its_scope(hs_verifier: Verifier) -> None:
    cases = {
        "admin": {},
        "sector": {"sector_id": "SEC-01"},
        "school": {"school_id": "SCH-0001"},
        "teacher": {"teacher_id": "T-00001", "school_id": "SCH-0001"},
    }
    for role, scope in cases.items():
        found = hs_verifier.verify(f"Bearer {_hs(role=role, **scope)}")
        assert found == Principal(sub=f"user-{role}", role=Role(role), claims=scope)


def test_small_clock_skew_is_tolerated(hs_verifier: Verifier) -> None:
    skewed = _hs(iat=NOW + 10, nbf=NOW + 10, exp=NOW + 600)
    assert hs_verifier.verify(f"Bearer {skewed}").role is Role.ADMIN


def _rs(keys: Keys, **changes: Any) -> str:
    return jwt.encode(
        _claims(changes),
        keys.rsa,
        algorithm="RS256",
        headers={"kid": "rsa-1"},
    )


def test_jwks_mode_accepts_rs256_and_es256(keys: Keys, jwks_verifier: Verifier) -> None:
    assert jwks_verifier.verify(f"Bearer {_rs(keys)}").role is Role.ADMIN
    es = jwt.encode(
        claims("school", school_id="SCH-0002"),
        keys.ec,
        algorithm="ES256",
        headers={"kid": "ec-1"},
    )
    assert jwks_verifier.verify(f"Bearer {es}").claims == {"school_id": "SCH-0002"}


JWKS_ATTACKS: list[tuple[str, Callable[[Keys], str]]] = [
    (
        "HS256 signed with the RS public key",
        lambda k: _hand_signed(
            {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"},
            claims("admin"),
            k.rsa_public_pem(),
        ),
    ),
    (
        "alg none with a known kid",
        lambda k: jwt.encode(
            claims("admin"), "", algorithm="none", headers={"kid": "rsa-1"}
        ),
    ),
    ("shared-secret token", lambda k: _hs()),
    ("expired", lambda k: _rs(k, exp=NOW - 3600, iat=NOW - 7200)),
    ("not yet valid", lambda k: _rs(k, nbf=NOW + 3600)),
    ("wrong aud", lambda k: _rs(k, aud="other")),
    ("wrong iss", lambda k: _rs(k, iss="other")),
    ("tampered signature", lambda k: _tampered(_rs(k))),
    ("missing role", lambda k: _rs(k, role=None)),
    ("unknown role", lambda k: _rs(k, role="root")),
    (
        "unknown kid",
        lambda k: jwt.encode(
            claims("admin"), k.rsa, algorithm="RS256", headers={"kid": "nope"}
        ),
    ),
    (
        "signed by a key not in the set",
        lambda k: jwt.encode(
            claims("admin"), Keys().rsa, algorithm="RS256", headers={"kid": "rsa-1"}
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "make"), JWKS_ATTACKS, ids=[n for n, _ in JWKS_ATTACKS]
)
def test_jwks_mode_refuses_with_401(
    keys: Keys, jwks_verifier: Verifier, name: str, make: Callable[[Keys], str]
) -> None:
    with pytest.raises(ApiError) as caught:
        jwks_verifier.verify(f"Bearer {make(keys)}")
    assert caught.value.status == 401, name


def test_no_key_configured_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PERFCACHE_JWT_SECRET"):
        Verifier(Settings())
