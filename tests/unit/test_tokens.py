"""Access and refresh tokens: key ring, rotation and every way a forged token must fail."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import jwt
import pytest

from infra.settings import PREFIX, load_settings
from infra.tokens import InvalidToken, TokenService

OLD_KEY = "o" * 40
NEW_KEY = "n" * 40
ACCESS_TTL = 900
REFRESH_TTL = 7 * 24 * 3600


def service(keys: dict[str, str] | None = None, issuer: str = "languagemate") -> TokenService:
    return TokenService(keys or {"k1": OLD_KEY}, issuer, ACCESS_TTL, REFRESH_TTL)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "user-1",
        "type": "access",
        "jti": "j-1",
        "sid": "s-1",
        "role": "user",
        "iss": "languagemate",
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


def test_issued_access_token_verifies_with_its_claims() -> None:
    tokens = service()
    token, issued = tokens.issue("user-1", "access", session_id="s-1", role="admin")

    verified = tokens.verify(token, "access")

    assert verified == issued
    assert (verified.user_id, verified.session_id, verified.role) == ("user-1", "s-1", "admin")


def test_access_and_refresh_tokens_live_for_their_own_ttl() -> None:
    now = 1_700_000_000.0
    _, access = service().issue("user-1", "access", session_id="s-1", now=now)
    _, refresh = service().issue("user-1", "refresh", session_id="s-1", now=now)

    assert access.expires_at == int(now) + ACCESS_TTL
    assert refresh.expires_at == int(now) + REFRESH_TTL


def test_each_token_gets_its_own_id() -> None:
    tokens = service()
    _, first = tokens.issue("user-1", "refresh", session_id="s-1")
    _, second = tokens.issue("user-1", "refresh", session_id="s-1")

    assert first.jti != second.jti


def test_refresh_token_is_not_accepted_as_an_access_token() -> None:
    tokens = service()
    token, _ = tokens.issue("user-1", "refresh", session_id="s-1")

    with pytest.raises(InvalidToken, match="expected a access token"):
        tokens.verify(token, "access")


def test_access_token_is_not_accepted_as_a_refresh_token() -> None:
    tokens = service()
    token, _ = tokens.issue("user-1", "access", session_id="s-1")

    with pytest.raises(InvalidToken, match="expected a refresh token"):
        tokens.verify(token, "refresh")


def test_expired_access_token_is_refused() -> None:
    tokens = service()
    token, _ = tokens.issue("user-1", "access", session_id="s-1", now=time.time() - ACCESS_TTL - 5)

    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(token, "access")


def test_access_token_just_inside_its_lifetime_is_accepted() -> None:
    tokens = service()
    token, _ = tokens.issue("user-1", "access", session_id="s-1", now=time.time() - ACCESS_TTL + 60)

    assert tokens.verify(token, "access").user_id == "user-1"


def test_token_with_a_tampered_payload_is_refused() -> None:
    tokens = service()
    token, _ = tokens.issue("user-1", "access", session_id="s-1")
    header, _payload, signature = token.split(".")
    forged_payload = base64.urlsafe_b64encode(
        json.dumps(claims(sub="admin-1", role="admin")).encode()
    ).rstrip(b"=")

    with pytest.raises(InvalidToken):
        tokens.verify(f"{header}.{forged_payload.decode()}.{signature}", "access")


def test_unsigned_token_with_alg_none_is_refused() -> None:
    forged = jwt.encode(claims(), None, algorithm="none", headers={"kid": "k1"})

    with pytest.raises(InvalidToken):
        service().verify(forged, "access")


def test_token_signed_with_another_secret_under_a_known_kid_is_refused() -> None:
    forged = jwt.encode(claims(), "x" * 40, algorithm="HS256", headers={"kid": "k1"})

    with pytest.raises(InvalidToken, match="Signature"):
        service().verify(forged, "access")


def test_token_signed_with_the_right_key_but_another_algorithm_is_refused() -> None:
    forged = jwt.encode(claims(), OLD_KEY, algorithm="HS512", headers={"kid": "k1"})

    with pytest.raises(InvalidToken):
        service().verify(forged, "access")


def test_token_naming_an_unknown_key_is_refused() -> None:
    forged = jwt.encode(claims(), OLD_KEY, algorithm="HS256", headers={"kid": "k9"})

    with pytest.raises(InvalidToken, match="unknown signing key"):
        service().verify(forged, "access")


def test_token_without_a_kid_is_refused() -> None:
    forged = jwt.encode(claims(), OLD_KEY, algorithm="HS256")

    with pytest.raises(InvalidToken, match="unknown signing key"):
        service().verify(forged, "access")


def test_token_from_another_issuer_is_refused() -> None:
    other = service(issuer="someone-else")
    token, _ = other.issue("user-1", "access", session_id="s-1")

    with pytest.raises(InvalidToken, match=r"(?i)issuer"):
        service().verify(token, "access")


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "type", "jti", "sid"])
def test_correctly_signed_token_missing_a_required_claim_is_refused(missing: str) -> None:
    payload = claims()
    del payload[missing]
    token = jwt.encode(payload, OLD_KEY, algorithm="HS256", headers={"kid": "k1"})

    with pytest.raises(InvalidToken):
        service().verify(token, "access")


def test_garbage_is_refused_as_an_invalid_token() -> None:
    with pytest.raises(InvalidToken):
        service().verify("not-a-jwt", "access")


def test_empty_key_ring_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        TokenService({}, "languagemate", ACCESS_TTL, REFRESH_TTL)


# --- rotation ------------------------------------------------------------------------------


def test_first_key_in_the_ring_signs_new_tokens() -> None:
    rotated = service({"new": NEW_KEY, "old": OLD_KEY})
    token, _ = rotated.issue("user-1", "access", session_id="s-1")

    assert jwt.get_unverified_header(token)["kid"] == "new"
    assert service({"new": NEW_KEY}).verify(token, "access").user_id == "user-1"


def test_token_signed_by_the_old_key_still_verifies_while_it_is_in_the_ring() -> None:
    before, _ = service({"old": OLD_KEY}).issue("user-1", "refresh", session_id="s-1")

    rotated = service({"new": NEW_KEY, "old": OLD_KEY})

    assert rotated.verify(before, "refresh").session_id == "s-1"


def test_token_signed_by_a_removed_key_no_longer_verifies() -> None:
    before, _ = service({"old": OLD_KEY}).issue("user-1", "refresh", session_id="s-1")

    after_removal = service({"new": NEW_KEY})

    with pytest.raises(InvalidToken, match="unknown signing key"):
        after_removal.verify(before, "refresh")


def test_key_ring_from_settings_signs_with_its_first_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LANGUAGEMATE_JWT_KEYS", f"new:{NEW_KEY},old:{OLD_KEY}")
    monkeypatch.setenv("LANGUAGEMATE_JWT_ISSUER", "lm-test")
    monkeypatch.setenv("LANGUAGEMATE_ACCESS_TOKEN_TTL_SECONDS", "120")

    tokens = TokenService.from_settings(load_settings())
    token, issued = tokens.issue("user-1", "access", session_id="s-1", now=1_700_000_000)

    assert tokens.keys == {"new": NEW_KEY, "old": OLD_KEY}
    assert jwt.get_unverified_header(token)["kid"] == "new"
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == "lm-test"
    assert issued.expires_at == 1_700_000_000 + 120


def test_token_payload_is_plain_base64_the_spa_can_decode_with_atob() -> None:
    """``atob`` rejects the URL-safe ``-`` and ``_``; ASCII claims free of ``?~>`` avoid them."""
    token, _ = service().issue("0b8f3f5e-5d55-4d0e-8b0a-6a3f2f1c7e21", "access", session_id="s-1")
    _, payload, _ = token.split(".")

    assert not set("-_") & set(payload)
    assert base64.b64decode(payload + "=" * (-len(payload) % 4)).decode().isascii()
