"""What each OAuth provider is and says: its endpoints and options (Google: OIDC with
PKCE; Naver: plain OAuth 2.0), how its userinfo answer reads (Naver wraps it in an
envelope and has no verified flag), and what a usable profile must hold (a subject and a
verified, well-formed e-mail, the account key). The flow that uses them, with its state
and browser binding, is ``infra/oauth.py``; nothing here talks to Redis or the network.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from domain.identity import EMAIL_PATTERN, normalise_email
from infra.settings import Settings

log = logging.getLogger(__name__)

ProviderName = Literal["google", "naver"]
PROVIDERS: tuple[ProviderName, ...] = ("google", "naver")
MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 320
_EMAIL = re.compile(EMAIL_PATTERN)


class OAuthError(Exception):
    """A refused or failed OAuth step; ``target`` is set only once the state was verified."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        target: str | None = None,
        provider: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.target, self.provider = target, provider
        self.reason = reason or code.lower()
        """Short ``error`` value for a redirect back to the SPA (``access_denied`` ...)."""


def provider_error(name: str, what: str) -> OAuthError:
    """A provider endpoint failed or answered nonsense (502)."""
    return OAuthError(
        502,
        f"{name} 로그인 처리에 실패했습니다 ({name} {what} failed)",
        "OAUTH_PROVIDER_ERROR",
    )


@dataclass(frozen=True)
class ProviderConfig:
    name: ProviderName
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    userinfo_url: str
    scopes: str
    pkce: bool

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


@dataclass(frozen=True)
class ProviderProfile:
    """Who the provider says signed in; ``email`` is normalised (the account key)."""

    provider: ProviderName
    subject: str
    email: str
    name: str


def provider_configs(settings: Settings) -> dict[ProviderName, ProviderConfig]:
    return {
        "google": ProviderConfig(
            name="google",
            client_id=settings.oauth_google_client_id,
            client_secret=settings.oauth_google_client_secret,
            authorize_url=settings.oauth_google_authorize_url,
            token_url=settings.oauth_google_token_url,
            userinfo_url=settings.oauth_google_userinfo_url,
            scopes="openid email profile",
            pkce=True,
        ),
        "naver": ProviderConfig(
            name="naver",
            client_id=settings.oauth_naver_client_id,
            client_secret=settings.oauth_naver_client_secret,
            authorize_url=settings.oauth_naver_authorize_url,
            token_url=settings.oauth_naver_token_url,
            userinfo_url=settings.oauth_naver_userinfo_url,
            scopes="",
            pkce=False,
        ),
    }


def userinfo_claims(config: ProviderConfig, body: dict[str, Any]) -> dict[str, Any]:
    """The provider's userinfo answer as ``subject``, ``email``, ``email_verified`` and
    ``name``, whichever provider it came from."""
    if config.name == "naver":
        inner = body.get("response")
        if body.get("resultcode") != "00" or not isinstance(inner, dict):
            log.warning("naver userinfo refused: %s", body.get("message"))
            raise provider_error(config.name, "userinfo")
        return {
            "subject": inner.get("id"),
            "email": inner.get("email"),
            # Naver has no verified flag; its e-mail is the one registered with the Naver
            # account, which is trusted here (accounts are keyed by e-mail).
            "email_verified": True,
            "name": inner.get("name") or inner.get("nickname"),
        }
    verified = body.get("email_verified")
    return {
        "subject": body.get("sub"),
        "email": body.get("email"),
        "email_verified": verified is True or verified == "true",
        "name": body.get("name") or body.get("given_name"),
    }


def checked_profile(raw: dict[str, Any], provider: ProviderName, target: str) -> ProviderProfile:
    """The profile an account can be keyed by, or the refusal (``target``: where the SPA
    learns of it)."""
    subject = raw.get("subject")
    if not isinstance(subject, str | int) or not str(subject):
        log.warning("%s profile without a subject", provider)
        raise provider_error(provider, "userinfo")
    email = raw.get("email")
    email = normalise_email(email) if isinstance(email, str) else ""
    if (
        not email
        or len(email) > MAX_EMAIL_LENGTH
        or not _EMAIL.fullmatch(email)
        or not raw.get("email_verified")
    ):
        raise OAuthError(
            400,
            "확인된 이메일 주소가 필요합니다 (a verified e-mail address is required)",
            "OAUTH_EMAIL_REQUIRED",
            target=target,
            provider=provider,
            reason="email_required",
        )
    name = raw.get("name")
    name = name.strip() if isinstance(name, str) else ""
    name = (name or email.split("@", 1)[0])[:MAX_NAME_LENGTH]
    return ProviderProfile(provider=provider, subject=str(subject), email=email, name=name)
